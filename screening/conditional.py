"""Conditional GET for a study's pages and API answers: an ETag per viewer, 304 on a match.

The ETag is only ever computed after the viewer's access was checked (the selector raises
Http404 first), so a 304 never tells anyone that another user's study exists.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

from screening.permissions import user_may_review

# Part of every ETag: bump it when the pages or API shapes change, so no client keeps an old one.
ETAG_VERSION = "1"


def etag_for_viewer(*, request: Any, fingerprint: str) -> str:
    """Return a strong ETag of `fingerprint` as this viewer sees it (user, role, format)."""
    user = request.user
    parts = (
        ETAG_VERSION,
        fingerprint,
        str(user.pk),
        str(user_may_review(user=user)),
        # Pages carry a CSRF token: a new one (after a login) must not be answered with 304.
        request.COOKIES.get(settings.CSRF_COOKIE_NAME, ""),
        request.headers.get("Accept", ""),
        request.headers.get("HX-Request", ""),
    )
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40] + '"'


def not_modified_or_none(*, request: Any, etag: str) -> HttpResponse | None:
    """Return a 304 when the request's If-None-Match holds `etag`, else None."""
    if request.method not in ("GET", "HEAD"):
        return None
    if len(get_messages(request)):  # a page must show its pending messages, not a kept copy
        return None
    held = parse_etags(request.headers.get("If-None-Match", ""))
    if etag not in held and "*" not in held:
        return None
    return conditional_headers_set(response=HttpResponseNotModified(), etag=etag)


def conditional_headers_set(*, response: HttpResponse, etag: str) -> HttpResponse:
    """Set the ETag, and let only the viewer's own browser keep the answer (revalidated)."""
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ("Cookie", "Authorization", "Accept"))
    return response
