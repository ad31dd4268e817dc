"""API tokens expire: a lifetime in settings, then the client signs in again for a new one.

A service account's token (PACS or monitoring) does not expire: a PACS or a Prometheus
cannot sign in. Rotate it with `manage.py drf_create_token -r <account>`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.accounts.models import User


def token_expires_at(*, token: Token) -> datetime | None:
    """When `token` stops working (None: never)."""
    lifetime = settings.CXR_API_TOKEN_LIFETIME_S
    if lifetime <= 0 or token.user.is_pacs_only or token.user.is_monitoring_only:
        return None
    return token.created + timedelta(seconds=lifetime)


def token_is_expired(*, token: Token) -> bool:
    expires = token_expires_at(token=token)
    return expires is not None and expires <= timezone.now()


@transaction.atomic
def token_issue(*, user: User) -> Token:
    """Return the user's token, a new one when there is none or it has expired."""
    token = Token.objects.select_for_update().select_related("user").filter(user=user).first()
    if token is not None and not token_is_expired(token=token):
        return token
    if token is not None:
        token.delete()
    return Token.objects.create(user=user)
