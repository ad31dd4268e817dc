"""The PACS side of the fault suite: chest films put into Orthanc, then pushed to the portal.

The driver plays the PACS's push (STOW-RS to /dicomweb/studies with the pacs account's
token), so the studies can arrive while Orthanc itself is down and their results are due.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from io import BytesIO

import pydicom
import requests

PATIENT = {"PatientName": "Chaos^Test", "PatientID": "CHAOS-PID-1", "PatientSex": "O"}


def chest_dicom(*, seed: int) -> tuple[bytes, str]:
    """A synthetic DX chest film; return its bytes and StudyInstanceUID."""
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import dicom_bytes

    data = dicom_bytes(pixels=chest_like_array(size=(256, 256), seed=seed), seed=seed,
                       patient=PATIENT)  # fmt: skip
    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    return data, str(ds.StudyInstanceUID)


def stow_post(*, base_url: str, token: str, data: bytes) -> requests.Response | None:
    """POST one instance over STOW-RS; None when the connection failed."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json",
    }
    try:
        return requests.post(f"{base_url}/dicomweb/studies", data=body, headers=headers,
                             timeout=60)  # fmt: skip
    except requests.RequestException:
        return None


@dataclass
class PacsBatch:
    """Films stored in Orthanc; `push` sends each to the portal and notes what was taken."""

    films: list[tuple[bytes, str]]
    accepted_uids: list[str] = field(default_factory=list)

    @classmethod
    def into(cls, *, orthanc, count: int, first_seed: int) -> PacsBatch:
        films = [chest_dicom(seed=first_seed + n) for n in range(count)]
        for data, _uid in films:
            orthanc.instance_upload(data)
        return cls(films=films)

    def push(self, *, base_url: str, token: str, tally) -> None:
        for data, uid in self.films:
            response = stow_post(base_url=base_url, token=token, data=data)
            tally.seen(response=response)
            if response is not None and response.status_code == 200:
                self.accepted_uids.append(uid)
