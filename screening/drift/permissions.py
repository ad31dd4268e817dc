"""Who may watch which site's drift: admins every site, reviewers their own, nobody else."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def user_watches_all(*, user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_superuser)


def user_may_watch(*, user: Any) -> bool:
    """Say whether `user` may see a drift page at all (reviewers and admins)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.is_reviewer)


def site_scope(*, user: Any, queryset: QuerySet, site_path: str = "id") -> QuerySet:
    """Limit `queryset` to the sites (or rows of sites, by `site_path`) `user` may watch."""
    if user_watches_all(user=user):
        return queryset
    if not user_may_watch(user=user):
        return queryset.none()
    return queryset.filter(**{site_path: user.site_id})


def user_may_scrape(*, user: Any) -> bool:
    """Say whether `user` may read /metrics (admins, and holders of drift.view_metrics)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.has_perm("drift.view_metrics"))
