"""A session's user and a token's user come with their roles in one query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from portal.accounts.authentication import (
    RoleReadingModelBackend,
    RoleReadingTokenAuthentication,
)

pytestmark = pytest.mark.django_db


def test_a_session_reads_its_user_with_roles_in_one_query(reviewer):
    backend = RoleReadingModelBackend()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            user = backend.get_user(str(reviewer.pk))
        assert user.pk == reviewer.pk and user.has_role("reviewer")
        assert len(queries.captured_queries) == 1
    assert backend.get_user("not-a-number") is None
    assert backend.get_user(str(reviewer.pk + 10_000)) is None


def test_a_token_reads_its_user_with_roles_in_one_query(reviewer):
    token = Token.objects.create(user=reviewer)
    with CaptureQueriesContext(connection) as queries:
        user, found = RoleReadingTokenAuthentication().authenticate_credentials(token.key)
        assert user.has_role("reviewer") and found.key == token.key
    assert len(queries.captured_queries) == 1


def test_a_remembered_token_saves_the_query_and_hands_out_a_private_user(reviewer, settings):
    from portal.accounts.auth_memory import auth_memory_forget

    settings.CXR_TOKEN_CACHE_S = 60
    token = Token.objects.create(user=reviewer)
    auth = RoleReadingTokenAuthentication()
    auth_memory_forget()
    try:
        first, _ = auth.authenticate_credentials(token.key)
        first.first_name = "changed by a request"
        with CaptureQueriesContext(connection) as queries:
            second, _ = auth.authenticate_credentials(token.key)
        assert len(queries.captured_queries) == 0
        assert second is not first and second.first_name == reviewer.first_name
        assert second.has_role("reviewer")
    finally:
        auth_memory_forget()


def test_a_remembered_session_user_saves_the_query_and_is_private(reviewer, settings):
    from portal.accounts.auth_memory import auth_memory_forget

    settings.CXR_TOKEN_CACHE_S = 60
    backend = RoleReadingModelBackend()
    auth_memory_forget()
    try:
        first = backend.get_user(str(reviewer.pk))
        first.first_name = "changed by a request"
        with CaptureQueriesContext(connection) as queries:
            second = backend.get_user(str(reviewer.pk))
        assert len(queries.captured_queries) == 0
        assert second is not first and second.first_name == reviewer.first_name
        assert second.has_role("reviewer")
    finally:
        auth_memory_forget()
