"""ORM reads compiled once: the same rows as the ORM for any values, and refusal of a query
whose SQL would hide a value."""

import pytest
from django.db import connection

from portal.accounts.models import User
from portal.compiled_sql import compiled_rows_read

pytestmark = pytest.mark.django_db


def _by_username(*, username: str):
    return User.objects.filter(username=username).order_by("id").values_list("id", "username")


def test_kept_sql_reads_what_the_orm_reads_for_each_value(clinician, reviewer):
    key = ("test-users-by-name",)
    for user in (clinician, reviewer, clinician):
        rows = compiled_rows_read(key=key, build=_by_username, values={"username": user.username})
        assert rows == list(_by_username(username=user.username))
    assert compiled_rows_read(key=key, build=_by_username, values={"username": "nobody"}) == []


def test_model_instances_come_back_with_their_fields(clinician):
    def build(*, username: str):
        return User.objects.filter(username=username)

    (user,) = compiled_rows_read(
        key=("test-user-instances",), build=build, values={"username": clinician.username}
    )
    assert isinstance(user, User) and user.pk == clinician.pk and user.email == clinician.email


def test_a_lookup_that_transforms_its_value_is_refused(clinician):
    if connection.vendor != "postgresql":
        pytest.skip("the SQL is only kept on PostgreSQL")

    def build(*, username: str):
        return User.objects.filter(username__contains=username).values_list("id")

    with pytest.raises(ValueError, match="beyond plain parameters"):
        compiled_rows_read(key=("test-contains",), build=build, values={"username": "clin"})


def test_a_session_reads_its_user_with_roles_in_one_kept_query(reviewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.accounts.authentication import RoleReadingModelBackend

    backend = RoleReadingModelBackend()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            user = backend.get_user(str(reviewer.pk))
        assert user.pk == reviewer.pk and user.has_role("reviewer")
        assert len(queries.captured_queries) == 1
    assert backend.get_user("not-a-number") is None
    assert backend.get_user(str(reviewer.pk + 10_000)) is None
