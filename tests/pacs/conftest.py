"""Fixtures for the PACS tests: a pacs service account, DICOM builders, a real Orthanc."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from rest_framework.authtoken.models import Token

from tests.support.images import chest_array
from tests.support.orthanc import dicomweb_plugin, orthanc_binary, orthanc_running
from tests.support.services import service_missing

PATIENT = {
    "PatientName": "Pacsworthy^Henrietta",
    "PatientID": "PACS-PID-4471",
    "AccessionNumber": "ACC-PACS-9981",
    "PatientBirthDate": "19520401",
    "PatientSex": "F",
    "InstitutionName": "Riverside Infirmary",
}


def chest_dicom(*, seed: int = 1, study_uid: str | None = None, **kwargs) -> bytes:
    """A synthetic DX chest film with patient identifiers (optionally in a given study)."""
    from mlcore.testing.files import dicom_bytes

    data = dicom_bytes(pixels=chest_array(seed=seed), seed=seed, patient=PATIENT, **kwargs)
    if study_uid is None:
        return data
    ds = pydicom.dcmread(BytesIO(data))
    ds.StudyInstanceUID = study_uid
    return dicom_write(ds)


def ct_dicom(*, study_uid: str, seed: int = 7) -> bytes:
    """pydicom's CT slice moved into `study_uid` with the same patient (not a chest film)."""
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["ct-series", str(seed)])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["ct-instance", str(seed)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return dicom_write(ds)


def dicom_write(ds) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def uids_of(data: bytes) -> dict[str, str]:
    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    keys = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
    return {key: str(ds.get(key)) for key in keys}


@pytest.fixture
def pacs_account(db):
    from tests.factories import UserFactory

    return UserFactory(username="pacs-orthanc", role="pacs")


@pytest.fixture
def pacs_token(pacs_account) -> str:
    return Token.objects.get_or_create(user=pacs_account)[0].key


KINDS = {
    "1.2.840.10008.5.1.4.1.1.7": "SC",
    "1.2.840.10008.5.1.4.1.1.30": "PM",
    "1.2.840.10008.5.1.4.1.1.88.34": "SR",
}


def study_objects(orthanc, *, study_uid: str) -> dict[str, list]:
    """Return the instances of `study_uid` in Orthanc by kind (SC, PM, SR or the modality)."""
    found: dict[str, list] = {}
    for study_id in orthanc.studies():
        for instance in orthanc.study_instances(study_id):
            ds = pydicom.dcmread(BytesIO(orthanc.instance_file(instance["ID"])))
            if str(ds.StudyInstanceUID) == study_uid:
                kind = KINDS.get(str(ds.SOPClassUID), str(ds.get("Modality", "")))
                found.setdefault(kind, []).append(ds)
    return found


def orthanc_missing() -> None:
    if orthanc_binary() is None or dicomweb_plugin() is None:
        service_missing("Orthanc with its DICOMweb plugin is not installed")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """One Orthanc (DICOMweb and DICOM) for a test module; each test starts it empty."""
    orthanc_missing()
    with orthanc_running(folder=tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def empty_orthanc(orthanc):
    if orthanc.process is None:
        orthanc.start()
    orthanc.studies_clear()
    return orthanc


@pytest.fixture
def orthanc_factory(tmp_path: Path):
    """Start Orthanc servers on demand: orthanc_factory(servers={...}) -> OrthancServer."""
    orthanc_missing()
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(*, servers: dict | None = None, name: str = "orthanc"):
            return stack.enter_context(orthanc_running(folder=tmp_path / name, servers=servers))

        yield start
