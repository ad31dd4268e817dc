"""A small DICOMweb client for the configured PACS: QIDO-RS study look-up, STOW-RS, ping.

Settings are read at call time: CXR_PACS_DICOMWEB_URL (e.g. http://orthanc:8042/dicom-web),
CXR_PACS_USERNAME / CXR_PACS_PASSWORD (optional basic auth), CXR_PACS_TIMEOUT_S.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import requests
from django.conf import settings

DICOM_JSON = "application/dicom+json"
STUDY_FIELDS = (
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
    "StudyDate", "StudyTime", "ReferringPhysicianName",
)  # fmt: skip


class PacsSendError(Exception):
    """The PACS could not be reached or refused what was sent (worth retrying later)."""


def pacs_configured() -> bool:
    return bool(settings.CXR_PACS_DICOMWEB_URL)


def _url(*, path: str) -> str:
    return settings.CXR_PACS_DICOMWEB_URL.rstrip("/") + "/" + path.lstrip("/")


def _request(*, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Send one request; raise PacsSendError when the PACS is down or answers an error."""
    auth = None
    if settings.CXR_PACS_USERNAME:
        auth = (settings.CXR_PACS_USERNAME, settings.CXR_PACS_PASSWORD)
    try:
        response = requests.request(
            method, _url(path=path), auth=auth, timeout=settings.CXR_PACS_TIMEOUT_S, **kwargs
        )
    except requests.RequestException as exc:
        raise PacsSendError(f"the PACS is unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise PacsSendError(f"the PACS answered {response.status_code} to {method} {path}")
    return response


def study_attributes_fetch(*, study_uid: str) -> dict[str, str]:
    """Return the patient and study attributes the PACS holds for `study_uid` (QIDO-RS)."""
    from pydicom.dataset import Dataset

    params = [("StudyInstanceUID", study_uid), *[("includefield", f) for f in STUDY_FIELDS]]
    response = _request(method="GET", path="studies", params=params, headers={"Accept": DICOM_JSON})
    found = response.json() if response.content.strip() else []
    if not found:
        raise PacsSendError("the study is not on the PACS (QIDO-RS found nothing)")
    ds = Dataset.from_json(found[0])
    return {keyword: str(ds.get(keyword, "") or "") for keyword in STUDY_FIELDS}


def multipart_body(*, files: Sequence[bytes]) -> tuple[bytes, str]:
    """Return a multipart/related body of application/dicom parts and its content type."""
    boundary = uuid.uuid4().hex
    chunks = []
    for data in files:
        chunks += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), data]
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(chunks), content_type


def instances_stow(*, study_uid: str, files: Sequence[bytes]) -> int:
    """Store `files` in the PACS study (STOW-RS); return how many it acknowledged."""
    body, content_type = multipart_body(files=files)
    response = _request(
        method="POST",
        path=f"studies/{study_uid}",
        data=body,
        headers={"Content-Type": content_type, "Accept": DICOM_JSON},
    )
    try:
        answer = response.json() if response.content.strip() else {}
    except ValueError as exc:
        raise PacsSendError("the PACS's STOW-RS answer is not JSON") from exc
    failed = answer.get("00081198", {}).get("Value") or []
    stored = answer.get("00081199", {}).get("Value") or []
    if failed or len(stored) != len(files):
        raise PacsSendError(f"the PACS stored {len(stored)} of {len(files)} result objects")
    return len(stored)


def pacs_ping() -> str:
    """Return "ok" when the PACS answers a QIDO-RS query; raise PacsSendError otherwise."""
    _request(method="GET", path="studies", params={"limit": "1"}, headers={"Accept": DICOM_JSON})
    return "ok"
