"""Who may use DICOMweb, and keeping a PACS service account out of everything else.

A user with the role `pacs` may POST studies to /dicomweb/ and nothing more: every web page
answers 403 and every other API endpoint refuses it. Admins may also send studies.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.permissions import BasePermission

# Paths a signed-in PACS account may still reach (DICOMweb itself, logging out, health).
ALLOWED_PREFIXES = ("/dicomweb/", "/accounts/logout/", "/healthz")
REFUSAL = "This account may only send studies over DICOMweb (STOW-RS)."


def user_is_pacs_only(*, user: Any) -> bool:
    """Say whether `user` is an active PACS service account (never an admin)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(getattr(user, "is_pacs_only", False))


def user_may_stow(*, user: Any) -> bool:
    """Say whether `user` may send studies over STOW-RS (the pacs role, or an admin)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user_is_pacs_only(user=user))


class NotPacsAccount(BasePermission):
    """Refuse PACS service accounts (the API's default, beside IsAuthenticated)."""

    message = REFUSAL

    def has_permission(self, request, view) -> bool:
        return not user_is_pacs_only(user=request.user)


class MayStow(BasePermission):
    """Allow the pacs role and admins only."""

    message = "Only a PACS service account (role pacs) may send studies over DICOMweb."

    def has_permission(self, request, view) -> bool:
        return user_may_stow(user=request.user)


class PacsAccountMiddleware:
    """Answer 403 to a signed-in PACS account anywhere outside /dicomweb/ (session logins)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if not request.path.startswith(ALLOWED_PREFIXES) and user_is_pacs_only(user=user):
            return JsonResponse({"detail": REFUSAL}, status=403)
        return self.get_response(request)
