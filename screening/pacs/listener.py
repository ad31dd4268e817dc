"""The DICOM listener: a C-STORE and C-ECHO SCP (pynetdicom), one handler per event.

Only registered calling AE titles (screening.pacs.peers) may associate; the others are
rejected at association ("calling AE title not recognised"). Every storage SOP class and
transfer syntax is accepted at association so that each instance gets a status with a reason
(e.g. 0x0122 for an SR or a PDF). One log line tells what happened to each association.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification
from pynetdicom.utils import set_ae

from screening.pacs.peers import (
    peer_address_allowed,
    peer_allowed_get,
    peer_association_record,
)
from screening.pacs.receive import SUCCESS, dimse_instance_store, outcome_status
from screening.pacs.stow import PROCESSING_FAILURE

logger = logging.getLogger(__name__)

REJECT_PERMANENT, REJECT_BY_USER, CALLING_AE_NOT_RECOGNISED = 0x01, 0x01, 0x03


@dataclass
class AssociationTally:
    """What one association did, for its log line."""

    ae_title: str
    address: str
    peer_id: int | None = None
    stored: int = 0
    duplicate: int = 0
    ignored: int = 0
    failed: list[str] = field(default_factory=list)
    logged: bool = False

    def line(self, *, ending: str) -> str:
        failed = (
            f", {len(self.failed)} failed ({'; '.join(self.failed[:5])})" if self.failed else ""
        )
        return (
            f"DICOM association from AE {self.ae_title!r} at {self.address}: {ending}; "
            f"{self.stored} stored, {self.duplicate} already received, "
            f"{self.ignored} own results ignored{failed}"
        )


class Listener:
    """Keeps the tally of each live association and answers its events."""

    def __init__(self) -> None:
        self.tallies: dict[Any, AssociationTally] = {}
        self.lock = threading.Lock()

    def _tally(self, event: Event) -> AssociationTally | None:
        with self.lock:
            return self.tallies.get(event.assoc)

    def requested_handle(self, event: Event) -> None:
        """Reject an association whose calling AE title is not a registered peer."""
        close_old_connections()
        ae_title = str(event.assoc.requestor.primitive.calling_ae_title).strip()
        address = f"{event.assoc.requestor.address}:{event.assoc.requestor.port}"
        tally = AssociationTally(ae_title=ae_title, address=address)
        peer = peer_allowed_get(ae_title=ae_title)
        if peer is None:
            logger.warning(
                "DICOM association from AE %r at %s refused: not a registered peer",
                ae_title,
                address,
            )
            event.assoc.acse.send_reject(
                REJECT_PERMANENT, REJECT_BY_USER, CALLING_AE_NOT_RECOGNISED
            )
            return
        if not peer_address_allowed(peer=peer, address=event.assoc.requestor.address):
            logger.warning(
                "DICOM association from AE %r at %s refused: not from the peer's networks (%s)",
                ae_title,
                address,
                peer.networks or f"host {peer.host}",
            )
            event.assoc.acse.send_reject(
                REJECT_PERMANENT, REJECT_BY_USER, CALLING_AE_NOT_RECOGNISED
            )
            return
        tally.peer_id = peer.pk
        peer_association_record(peer_id=peer.pk)
        with self.lock:
            self.tallies[event.assoc] = tally

    def echo_handle(self, event: Event) -> int:
        """Answer C-ECHO: success."""
        return SUCCESS

    def store_handle(self, event: Event) -> int:
        """Screen one instance like a STOW-RS one; answer its status."""
        tally = self._tally(event)
        if tally is None or tally.peer_id is None:
            return PROCESSING_FAILURE
        try:
            outcome = dimse_instance_store(peer_id=tally.peer_id, data=event.encoded_dataset())
        except Exception:  # a status, never a dead listener
            logger.exception("Could not store an instance from AE %r", tally.ae_title)
            tally.failed.append("processing failure")
            return PROCESSING_FAILURE
        if outcome.failure is not None:
            tally.failed.append(f"0x{outcome.failure:04X} {outcome.reason}"[:160])
        elif outcome.duplicate:
            tally.duplicate += 1
        elif outcome.ignored:
            tally.ignored += 1
        else:
            tally.stored += 1
        return outcome_status(outcome=outcome)

    def ended_handle(self, event: Event, *, ending: str) -> None:
        """Log the association once, as it ends."""
        tally = self._tally(event)
        if tally is not None and not tally.logged:
            tally.logged = True
            logger.info(tally.line(ending=ending))

    def closed_handle(self, event: Event) -> None:
        """Log an association that ended without release or abort; free its connection."""
        self.ended_handle(event, ending="connection closed")
        with self.lock:
            self.tallies.pop(event.assoc, None)
        connection.close()

    def handlers(self) -> list:
        return [
            (evt.EVT_REQUESTED, self.requested_handle),
            (evt.EVT_C_ECHO, self.echo_handle),
            (evt.EVT_C_STORE, self.store_handle),
            (evt.EVT_RELEASED, lambda event: self.ended_handle(event, ending="released")),
            (evt.EVT_ABORTED, lambda event: self.ended_handle(event, ending="aborted")),
            (evt.EVT_CONN_CLOSE, self.closed_handle),
        ]


def listener_ae_build(*, ae_title: str) -> AE:
    """Return an AE that accepts Verification and every storage SOP class and syntax."""
    from pydicom.uid import AllTransferSyntaxes

    ae = AE(ae_title=set_ae(ae_title, "ae_title", False, False))
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
    ae.maximum_associations = 8
    return ae


def listener_start(*, ae_title: str, host: str, port: int):
    """Start listening in the background; return the server (call shutdown() to stop)."""
    ae = listener_ae_build(ae_title=ae_title)
    listener = Listener()
    server = ae.start_server((host, port), block=False, evt_handlers=listener.handlers())
    logger.info("DICOM listener %r on %s:%d (C-STORE, C-ECHO)", ae_title, host, port)
    return server
