"""/healthz reports the PACS (a DICOMweb QIDO-RS query) when one is configured."""

from __future__ import annotations

from collections.abc import Callable

from screening.pacs.client import pacs_configured, pacs_ping


def pacs_checks() -> dict[str, Callable[[], str]]:
    """Return {"pacs": check} when CXR_PACS_DICOMWEB_URL is set, else nothing."""
    return {"pacs": pacs_ping} if pacs_configured() else {}
