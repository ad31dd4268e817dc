"""Results back to a DICOM peer over DIMSE: the study's attributes by C-FIND, objects by C-STORE.

The calling AE title is the listener's (CXR_DICOM_AE_TITLE), read at call time; every failure is
a PacsSendError, which the results task retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

from django.conf import settings

from screening.pacs.client import STUDY_FIELDS, PacsSendError

SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)


def _association(*, peer: Any, contexts: Sequence[str]):
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE

    ae = AE(ae_title=settings.CXR_DICOM_AE_TITLE)
    timeout = float(settings.CXR_PACS_TIMEOUT_S)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for uid in dict.fromkeys(contexts):
        ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    try:
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    except OSError as exc:
        raise PacsSendError(f"the peer {peer.ae_title} is unreachable: {exc}") from exc
    where = f"{peer.ae_title} at {peer.host}:{peer.port}"
    if assoc.is_rejected:
        raise PacsSendError(f"the peer {where} rejected the association")
    if not assoc.is_established:
        raise PacsSendError(f"the peer {where} is unreachable")
    return assoc


def study_attributes_find(*, peer: Any, study_uid: str) -> dict[str, str]:
    """Return the patient and study attributes the peer holds for `study_uid` (C-FIND)."""
    from pydicom.dataset import Dataset
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as StudyFind

    query = Dataset()
    query.QueryRetrieveLevel, query.StudyInstanceUID = "STUDY", study_uid
    for keyword in STUDY_FIELDS:
        setattr(query, keyword, "")
    assoc = _association(peer=peer, contexts=[StudyFind])
    found: list[Any] = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyFind):
            code = int(status.Status) if status else None
            if code is None or code not in (SUCCESS, *PENDING):
                raise PacsSendError(f"the peer answered C-FIND with status {code}")
            if code in PENDING and identifier is not None:
                found.append(identifier)
    finally:
        assoc.release()
    if not found:
        raise PacsSendError("the study is not on the peer (C-FIND found nothing)")
    return {keyword: str(found[0].get(keyword, "") or "") for keyword in STUDY_FIELDS}


def instances_store(*, peer: Any, files: Sequence[bytes]) -> int:
    """Store `files` on the peer by C-STORE; return how many it acknowledged."""
    from pydicom import dcmread

    datasets = [dcmread(BytesIO(data)) for data in files]
    assoc = _association(peer=peer, contexts=[str(ds.SOPClassUID) for ds in datasets])
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = int(status.Status) if status else None
            if code != SUCCESS and not (code is not None and 0xB000 <= code <= 0xBFFF):
                raise PacsSendError(f"the peer answered C-STORE with status {code}")
    finally:
        if assoc.is_established:
            assoc.release()
    return len(datasets)
