"""API clients for tests."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def api_client_for(user, *, token: bool = True) -> APIClient:
    client = APIClient()
    if token:
        key, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    else:
        client.force_authenticate(user)
    return client
