"""Authentication that reads a user's roles in the same query as the user.

Every API request and page checks roles (PACS accounts, reviewers); reading them with the
user saves a query on each, which is most of a status poll's cost.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from portal.accounts.auth_memory import (
    token_cached_get,
    token_remember,
    user_cached_get,
    user_remember,
)
from portal.accounts.models import ROLE_NAMES_READ, User, role_names_annotate
from portal.accounts.tokens import token_is_expired


def token_with_roles_queryset(*, key: str):
    """Return the token of `key` with its user and the user's role names (one query)."""
    queryset = Token.objects.select_related("user").filter(key=key)
    return role_names_annotate(queryset=queryset, user_path="user__")


def user_with_roles_queryset(*, user_id: int):
    """Return the user of `user_id` with the user's role names (one query)."""
    return role_names_annotate(queryset=User._default_manager.filter(pk=user_id))


class RoleReadingModelBackend(ModelBackend):
    """Django's model backend; the session's user comes with its role names."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            user_id = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        user = user_cached_get(user_id=user_id)
        if user is None:
            user = user_with_roles_queryset(user_id=user_id).first()
            if user is not None:
                user_remember(user=user)
        return user if user is not None and self.user_can_authenticate(user) else None


class RoleReadingTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; the token's user comes with its role names."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        token = token_cached_get(key=key)
        if token is None:
            token = token_with_roles_queryset(key=key).first()
            if token is None:
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            token.user.__dict__[ROLE_NAMES_READ] = getattr(token, ROLE_NAMES_READ, None)
            token_remember(token=token)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if token_is_expired(token=token):
            raise exceptions.AuthenticationFailed(
                "The token has expired: request a new one from /api/v1/auth/token/."
            )
        return token.user, token
