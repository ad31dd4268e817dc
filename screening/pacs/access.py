"""Who may use DICOMweb, and keeping service accounts out of everything else.

A user with the role `pacs` may POST studies to /dicomweb/ and nothing more: every web page
answers 403 and every other API endpoint refuses it. Admins may also send studies. A user with
the role `monitoring` (a Prometheus scraper) may read /metrics and nothing more, the same way.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.permissions import BasePermission

# Paths a signed-in PACS account may still reach (DICOMweb itself, logging out, health).
ALLOWED_PREFIXES = ("/dicomweb/", "/accounts/logout/", "/healthz")
REFUSAL = "This account may only send studies over DICOMweb (STOW-RS)."
MONITORING_PREFIXES = ("/metrics", "/accounts/logout/", "/healthz")
MONITORING_REFUSAL = "This account may only read /metrics."


def service_account_limits(*, user: Any) -> tuple[tuple[str, ...], str] | None:
    """The paths a service account may reach and why others are refused; None for people."""
    if not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "is_pacs_only", False):
        return ALLOWED_PREFIXES, REFUSAL
    if getattr(user, "is_monitoring_only", False):
        return MONITORING_PREFIXES, MONITORING_REFUSAL
    return None


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
    """Refuse service accounts, PACS and monitoring (the API's default, beside
    IsAuthenticated)."""

    message = REFUSAL

    def has_permission(self, request, view) -> bool:
        limits = service_account_limits(user=request.user)
        if limits is not None:
            self.message = limits[1]
        return limits is None


class MayStow(BasePermission):
    """Allow the pacs role and admins only."""

    message = "Only a PACS service account (role pacs) may send studies over DICOMweb."

    def has_permission(self, request, view) -> bool:
        return user_may_stow(user=request.user)


class PacsAccountMiddleware:
    """Answer 403 to a signed-in service account anywhere outside its paths (session logins)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limits = service_account_limits(user=getattr(request, "user", None))
        if limits is not None and not request.path.startswith(limits[0]):
            return JsonResponse({"detail": limits[1]}, status=403)
        return self.get_response(request)
