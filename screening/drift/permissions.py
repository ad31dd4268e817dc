"""Who may watch which site's drift: admins every site, reviewers their own, nobody else.

The same rule as the studies they may see (screening.permissions.study_scope_kind).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from screening.permissions import study_scope_kind, user_may_review


def user_watches_all(*, user: Any) -> bool:
    """Say whether `user` may watch every site (admins)."""
    return study_scope_kind(user=user) == "all"


def user_may_watch(*, user: Any) -> bool:
    """Say whether `user` may see a drift page at all (reviewers and admins)."""
    return user_may_review(user=user)


def site_scope(*, user: Any, queryset: QuerySet, site_path: str = "id") -> QuerySet:
    """Limit `queryset` to the sites (or rows of sites, by `site_path`) `user` may watch."""
    kind = study_scope_kind(user=user)
    if kind == "all":
        return queryset
    if kind == "site":
        return queryset.filter(**{site_path: user.site_id})
    return queryset.none()


def user_may_scrape(*, user: Any) -> bool:
    """Say whether `user` may read /metrics (admins, and holders of drift.view_metrics)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.has_perm("drift.view_metrics"))
