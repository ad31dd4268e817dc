"""Who may see and do what in the screening domain.

Clinicians see only their own studies; reviewers see every study of their site; admins see
every study. Anything a user may not see does not exist for them (404, never 403), so ids of
other users' or other sites' studies leak nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

OWNER = "owner"


def user_may_review(*, user: Any) -> bool:
    """Say whether `user` may record reviews (reviewers and admins)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.is_reviewer)


def study_scope_kind(*, user: Any) -> str:
    """Say which studies `user` may see: "none", "all" (admins), "site" (reviewers: their
    site's) or "own" (the rule `study_scope` applies)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return "none"
    if user.is_superuser:
        return "all"
    return "site" if user.is_reviewer else "own"


def study_scope(*, user: Any, queryset: QuerySet, owner_path: str = OWNER) -> QuerySet:
    """Limit `queryset` to rows whose study `user` may see; `owner_path` leads to the study's
    owner (its site is beside it: "image__study__owner" -> "image__study__site")."""
    kind = study_scope_kind(user=user)
    if kind == "none":
        return queryset.none()
    if kind == "all":
        return queryset
    if kind == "site":
        site_path = owner_path.removesuffix(OWNER) + "site"
        return queryset.filter(**{site_path: user.site_id})
    return queryset.filter(**{owner_path: user})
