"""A short-lived, per-process memory of API tokens and their users.

Every API request reads its token; a client polling a study sends the same one every second.
Remembering it for CXR_TOKEN_CACHE_S seconds saves that query on most polls. The price: a
token deleted or a user deactivated keeps working in a process for at most that long.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.conf import settings

MAX_ENTRIES = 10_000

_entries: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


def _private_copy(token: Any) -> Any:
    """A copy of the token with its own copy of the user: a request may change its user."""
    kept = copy.copy(token)
    kept.user = copy.copy(token.user)
    return kept


def token_cached_get(*, key: str) -> Any | None:
    """Return a private copy of the remembered token (with its user), or None."""
    entry = _entries.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return _private_copy(entry[1])


def token_remember(*, token: Any) -> None:
    """Remember `token` (its user loaded) for CXR_TOKEN_CACHE_S seconds (0: not at all)."""
    seconds = settings.CXR_TOKEN_CACHE_S
    if seconds <= 0:
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[token.key] = (time.monotonic() + seconds, _private_copy(token))


def token_forget_all() -> None:
    """Forget every remembered token (tests)."""
    with _lock:
        _entries.clear()
