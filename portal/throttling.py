"""Request rate limits (DRF throttles), counted in the cache: Redis in production.

A throttle that cannot reach its cache lets the request through: a Redis outage must not
take the API and the login page down with it (django-axes still locks out guessers).
"""

from __future__ import annotations

import hashlib
import logging
from types import SimpleNamespace
from typing import Any

from rest_framework import throttling

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception as exc:  # the cache (Redis) is down
            logger.warning("Rate limit not checked (%s): %s", type(self).__name__, exc)
            return True


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    """Per address, for requests without an account (API_THROTTLE_ANON)."""


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Per account, every API request (API_THROTTLE_USER)."""


class ScopedRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    """Per account (per address without one) for a view's `throttle_scope`."""


class SubmissionRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Per account, submissions only (API_THROTTLE_SUBMIT): a POST to a view that sets
    `throttle_submissions = True` (new studies, STOW-RS)."""

    scope = "submit"

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method != "POST" or not getattr(view, "throttle_submissions", False):
            return True
        return super().allow_request(request, view)


def submission_allowed(*, user: Any) -> bool:
    """Count one submission that did not come through DRF (a DICOM C-STORE) against the
    account's submission limit, shared with its API and STOW-RS submissions."""
    request = SimpleNamespace(user=user, method="POST", META={})
    return SubmissionRateThrottle().allow_request(
        request, SimpleNamespace(throttle_submissions=True)
    )


class LoginRateThrottle(_FailOpen, throttling.SimpleRateThrottle):
    """Per account named in a sign-in attempt, from any address (API_THROTTLE_LOGIN).

    django-axes locks out a username + address pair; this also slows guessing one
    account's password from many addresses.
    """

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        data = getattr(request, "data", None) or request.POST
        username = str(data.get("username") or "").strip().lower()
        if not username:
            return None
        ident = hashlib.sha256(username.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}
