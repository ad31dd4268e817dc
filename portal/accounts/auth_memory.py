"""A short-lived, per-process memory of who a request's token or session belongs to.

Every API request reads its token, every signed-in page its user; a client polling a study
sends the same one every second. Remembering them for CXR_TOKEN_CACHE_S seconds saves that
query on most polls. The price: a token deleted, a user deactivated or a password changed
elsewhere takes effect in a process at most that much later.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.conf import settings

MAX_ENTRIES = 10_000

_entries: dict[tuple[str, Any], tuple[float, Any]] = {}
_lock = threading.Lock()


def _token_copy(token: Any) -> Any:
    """A copy of the token with its own copy of the user: a request may change its user."""
    kept = copy.copy(token)
    kept.user = copy.copy(token.user)
    return kept


def _recall(*, key: tuple[str, Any]) -> Any | None:
    entry = _entries.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def _keep(*, key: tuple[str, Any], value: Any) -> None:
    seconds = settings.CXR_TOKEN_CACHE_S
    if seconds <= 0:
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (time.monotonic() + seconds, value)


def token_cached_get(*, key: str) -> Any | None:
    """Return a private copy of the remembered token (with its user), or None."""
    token = _recall(key=("token", key))
    return None if token is None else _token_copy(token)


def token_remember(*, token: Any) -> None:
    """Remember `token` (its user loaded) for CXR_TOKEN_CACHE_S seconds (0: not at all)."""
    _keep(key=("token", token.key), value=_token_copy(token))


def user_cached_get(*, user_id: Any) -> Any | None:
    """Return a private copy of the remembered user of a session, or None."""
    user = _recall(key=("user", user_id))
    return None if user is None else copy.copy(user)


def user_remember(*, user: Any) -> None:
    """Remember a session's user for CXR_TOKEN_CACHE_S seconds (0: not at all)."""
    _keep(key=("user", user.pk), value=copy.copy(user))


def auth_memory_forget() -> None:
    """Forget everything remembered (tests)."""
    with _lock:
        _entries.clear()
