"""What the user is told when a part the portal needs is down: one rule, web pages and API.

A database restart or a full media disk is not a bug in the request: it is answered 503 with
a message that says what is happening and a Retry-After, never a bare 500.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError

from screening.atomic_files import CommitInDoubt

RETRY_AFTER_S = 10


@dataclass(frozen=True)
class Outage:
    """A part that is down, as the user is told about it."""

    code: str
    detail: str
    retry_after_s: int = RETRY_AFTER_S


DATABASE_DOWN = Outage(
    code="database_unavailable",
    detail="The service is briefly unavailable (its database is restarting). Nothing was "
    "lost; please try again in a few seconds.",
)
SAVE_UNCONFIRMED = Outage(
    code="save_unconfirmed",
    detail="The database restarted just as this was being saved, so it may or may not have "
    "been saved. Look in your case history before sending it again (API clients: send it "
    "again with the same Idempotency-Key).",
)
STORAGE_FULL = Outage(
    code="storage_full",
    detail="The image store is full, so nothing was stored. Please try again later; the "
    "operators have been alerted.",
    retry_after_s=60,
)

OUTAGES = (DATABASE_DOWN, SAVE_UNCONFIRMED, STORAGE_FULL)


def outage_of(*, exception: BaseException | None) -> Outage | None:
    """Return the outage `exception` stands for, or None when it is an ordinary error."""
    if isinstance(exception, CommitInDoubt):
        return SAVE_UNCONFIRMED
    if isinstance(exception, DatabaseOperationalError | InterfaceError):
        return DATABASE_DOWN
    if isinstance(exception, OSError) and exception.errno in (errno.ENOSPC, errno.EDQUOT):
        return STORAGE_FULL
    return None
