"""Instances received over DIMSE (C-STORE) are screened exactly as STOW-RS ones.

The same checks, de-identification, study grouping and deduplication (stow.stow_store); the
study remembers the peer so its results go back to it.
"""

from __future__ import annotations

from portal.throttling import submission_allowed
from screening.pacs.access import user_may_stow
from screening.pacs.models import PacsPeer
from screening.pacs.multipart import DICOM_TYPE, Part
from screening.pacs.stow import OUT_OF_RESOURCES, PROCESSING_FAILURE, Outcome, stow_store

SUCCESS = 0x0000


def dimse_instance_store(*, peer_id: int, data: bytes) -> Outcome:
    """Check and store one received Part 10 instance as the peer's account; return its outcome."""
    peer = PacsPeer.objects.select_related("user").filter(pk=peer_id).first()
    if peer is None or not user_may_stow(user=peer.user):
        return Outcome(failure=PROCESSING_FAILURE, reason="the peer is no longer registered")
    if not submission_allowed(user=peer.user):
        return Outcome(
            failure=OUT_OF_RESOURCES,
            reason=f"the account {peer.user.username!r} is over its submission rate limit",
        )
    (outcome,) = stow_store(owner=peer.user, parts=[Part(DICOM_TYPE, data)], peer=peer)
    return outcome


def outcome_status(*, outcome: Outcome) -> int:
    """Return the C-STORE status of an outcome (STOW-RS failure reasons are C-STORE ones)."""
    return SUCCESS if outcome.failure is None else int(outcome.failure)
