"""What the model commands share: who acts (--by), and refusals as CommandError."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser


def actor_argument_add(*, parser: CommandParser) -> None:
    parser.add_argument(
        "--by", metavar="USERNAME", default="", help="Who makes the change (for the audit log)."
    )
    parser.add_argument("--note", default="", help="Why (kept in the history and audit log).")


def actor_resolve(*, username: str) -> Any:
    """Return the named active user, or None (the audit log then names no one)."""
    if not username:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"No active user {username!r}.")
    return user
