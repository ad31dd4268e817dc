"""Pagination that never counts a whole table: the case history at a million predictions."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Counting stops here: beyond it the history says "more than" and asks for filters.
COUNT_CAP = 10_000


class CountCappedPaginator(Paginator):
    """A Paginator whose count reads at most COUNT_CAP + 1 rows (COUNT_CAP + 1 means "more")."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not hasattr(queryset, "values"):
            return len(queryset)
        # No ordering, no joins: PostgreSQL stops after the first COUNT_CAP + 1 matching rows.
        return queryset.values("pk").order_by()[: COUNT_CAP + 1].count()

    @property
    def count_cap(self) -> int:
        return COUNT_CAP

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP
