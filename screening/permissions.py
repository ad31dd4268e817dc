"""Who may see and do what in the screening domain.

Clinicians see only their own studies; reviewers and admins see every study. Anything a user
may not see does not exist for them (404, never 403), so ids of other users' studies leak nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def user_sees_all(*, user: Any) -> bool:
    """Say whether `user` may see every study (reviewers and admins)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.is_reviewer)


def user_may_review(*, user: Any) -> bool:
    """Say whether `user` may record reviews (reviewers and admins)."""
    return user_sees_all(user=user)


def study_scope_kind(*, user: Any) -> str:
    """Say which studies `user` may see: "none", "all" or "own" (the rule `study_scope` applies)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return "none"
    return "all" if user_sees_all(user=user) else "own"


def study_scope(*, user: Any, queryset: QuerySet, owner_path: str = "owner") -> QuerySet:
    """Limit `queryset` to rows whose study `user` may see; `owner_path` leads to the owner."""
    kind = study_scope_kind(user=user)
    if kind == "none":
        return queryset.none()
    if kind == "all":
        return queryset
    return queryset.filter(**{owner_path: user})
