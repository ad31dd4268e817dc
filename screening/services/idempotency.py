"""An API client's Idempotency-Key: a retried submission returns the study it first made.

A client whose answer was lost (a 503 `save_unconfirmed`, a dropped connection) sends the same
request again with the same key: if the first one was stored, it gets that study back, never a
second one. The same key with other files or another reference is refused (422).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from screening.models import Study
from screening.services.errors import SubmissionError
from screening.services.uploads import CheckedUpload

IDEMPOTENCY_KEY_MAX_LENGTH = 64


def idempotency_key_clean(*, key: str) -> str:
    """Return the key as stored ("" for none), or raise SubmissionError naming the problem."""
    key = (key or "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not all("!" <= c <= "~" for c in key):
        raise SubmissionError(
            f"The Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII "
            "characters (a UUID is a good one).",
            code="invalid_idempotency_key",
        )
    return key


def submission_fingerprint(*, checked: Sequence[CheckedUpload], reference: str) -> str:
    """Identify what was sent: each file's bytes as received, in order, and the reference."""
    digest = hashlib.sha256()
    for item in checked:
        digest.update(item.received_sha256.encode("ascii") + b"\n")
    digest.update(reference.encode("utf-8"))
    return digest.hexdigest()


def study_of_key(*, owner: Any, key: str, fingerprint: str) -> Study | None:
    """The study `owner` already submitted with `key`, if any; refuse a key sent with other
    content."""
    if not key:
        return None
    study = Study.objects.filter(owner=owner, idempotency_key=key).first()
    if study is not None and study.idempotency_fingerprint != fingerprint:
        raise SubmissionError(
            f"This Idempotency-Key was already used for another submission (study "
            f"{study.reference}) with other files or another reference: use a new key for a "
            "new submission.",
            code="idempotency_key_reused",
            http_status=422,
        )
    return study
