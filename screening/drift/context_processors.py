"""The drift banner on every page (portal/templates/base.html)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from screening.drift.selectors import banner_for


def drift_banner(request: HttpRequest) -> dict[str, Any]:
    """Give templates `drift_banner`, read only when a page shows it (one query)."""
    user = getattr(request, "user", None)
    return {"drift_banner": SimpleLazyObject(lambda: banner_for(user=user) or {})}
