"""ORM reads compiled to SQL once per process, then run again with new parameter values.

The hottest reads (a token's user, a status poll) build and compile the same queryset on
every request, and compiling was a quarter of a poll's CPU. Each such read stays defined by
the ORM, in one function (its rules live there); here its SQL is kept after the first use,
with the places of its parameters, and executed with each request's values.

A `build(**values)` function returns the queryset. It is first called with stand-ins for the
values, whose places in the SQL parameters are then known; a stand-in must only be passed
through to a filter (a lookup that transforms a value would hide its place). Only PostgreSQL
runs the kept SQL; elsewhere (the SQLite demo) the queryset is built and run as usual.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# Stand-in integers (primary keys): far from any real key, and told apart by their type.
_STAND_IN_INT = -7_300_000_000_000_000_000


@dataclass(frozen=True)
class CompiledQuery:
    """A queryset's SQL, its parameters and where each named value goes in them."""

    db: str
    sql: str
    params: tuple
    places: tuple[tuple[int, str], ...]
    compiler: SQLCompiler
    converters: dict
    values: bool  # rows are values_list tuples (else model instances)


# key -> the compiled query: filled on first use, never at import (no routers: one database).
_compiled: dict[tuple, CompiledQuery] = {}


def _stand_in(*, name: str, value: Any, index: int, round_: int) -> Any:
    """Return a stand-in for `value` that is unmistakable among SQL parameters."""
    if isinstance(value, models.Model):
        # A copy keeps what decides the query's shape (a user's roles); only its key differs.
        stand_in = copy.copy(value)
        stand_in.pk = _stand_in(name=name, value=0, index=index, round_=round_)
        return stand_in
    if isinstance(value, int) and not isinstance(value, bool):
        return _STAND_IN_INT - 100 * round_ - index
    if isinstance(value, uuid.UUID):
        return uuid.uuid5(uuid.NAMESPACE_OID, f"compiled-sql-stand-in:{name}:{round_}")
    if isinstance(value, str):
        return f"\x1fstand-in:{name}:{round_}\x1f"
    raise TypeError(f"no stand-in for {name}={type(value).__name__}")


def _stand_ins_make(*, values: Mapping[str, Any], round_: int) -> dict[str, Any]:
    return {
        name: _stand_in(name=name, value=value, index=index, round_=round_)
        for index, (name, value) in enumerate(values.items())
    }


def _places_check(*, first: CompiledQuery, second: CompiledQuery) -> None:
    """Refuse a query whose SQL or parameters change with the values in any other place.

    Compiled twice with different stand-ins, the SQL must be the same and the parameters
    may differ only where a value was found: a lookup that transforms its value (contains,
    a date part) would otherwise run with a stand-in.
    """
    refusal = "this query's SQL depends on its values beyond plain parameters"
    if first.sql != second.sql or len(first.params) != len(second.params):
        raise ValueError(refusal)
    pairs = enumerate(zip(first.params, second.params, strict=True))
    differing = {index for index, (a, b) in pairs if a != b}
    if differing != {index for index, _ in first.places}:
        raise ValueError(refusal)


def _param_of(value: Any) -> Any:
    return value.pk if isinstance(value, models.Model) else value


def _places_find(*, params: tuple, stand_ins: Mapping[str, Any]) -> tuple[tuple[int, str], ...]:
    places = []
    for index, param in enumerate(params):
        for name, stand_in in stand_ins.items():
            target = _param_of(stand_in)
            if type(param) is type(target) and param == target:
                places.append((index, name))
    # A value the SQL does not use (a reviewer's scope has no owner filter) has no place.
    return tuple(places)


def _compile(*, queryset: QuerySet, stand_ins: Mapping[str, Any]) -> CompiledQuery:
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    values = queryset._fields is not None
    if values and list(queryset._fields) != [
        *query.extra_select,
        *query.values_select,
        *query.annotation_select,
    ]:
        raise ValueError("list a values_list's fields in SQL order (annotations last)")
    columns = [column[0] for column in compiler.select[: compiler.col_count]]
    return CompiledQuery(
        db=queryset.db,
        sql=sql,
        params=tuple(params),
        places=_places_find(params=tuple(params), stand_ins=stand_ins),
        compiler=compiler,
        converters=compiler.get_converters(columns),
        values=values,
    )


def _rows_read(*, compiled: CompiledQuery, values: Mapping[str, Any]) -> list[list]:
    params = list(compiled.params)
    for index, name in compiled.places:
        params[index] = _param_of(values[name])
    connection = connections[compiled.db]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = [list(row) for row in cursor.fetchall()]
    for row in rows:
        for position, (converters, expression) in compiled.converters.items():
            for converter in converters:
                row[position] = converter(row[position], expression, connection)
    return rows


def _instances_make(*, compiled: CompiledQuery, rows: list[list]) -> list[models.Model]:
    """Make model instances of `rows` as Django's ModelIterable does (select_related too)."""
    compiler, db = compiled.compiler, compiled.db
    klass_info, select = compiler.klass_info, compiler.select
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, db)
    instances = []
    for row in rows:
        instance = klass_info["model"].from_db(db, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        for name, position in (compiler.annotation_col_map or {}).items():
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


def compiled_rows_read(
    *, key: tuple, build: Callable[..., QuerySet], values: Mapping[str, Any]
) -> list:
    """Return the rows of `build(**values)`: tuples (values_list) or model instances.

    `key` names the query and everything else that changes its SQL (e.g. the viewer's scope).
    """
    compiled = _compiled.get(key)
    if compiled is None:
        queryset = build(**values)
        if connections[queryset.db].vendor != "postgresql":
            return list(queryset)
        first, second = (_stand_ins_make(values=values, round_=r) for r in (1, 2))
        compiled = _compile(queryset=build(**first), stand_ins=first)
        _places_check(first=compiled, second=_compile(queryset=build(**second), stand_ins=second))
        _compiled[key] = compiled
    rows = _rows_read(compiled=compiled, values=values)
    if compiled.values:
        return [tuple(row[: compiled.compiler.col_count]) for row in rows]
    return _instances_make(compiled=compiled, rows=rows)
