"""DICOM is de-identified at ingest, before anything is stored, through the API AND the web form.

A real worker then screens the studies (the tiny fixture model), so thumbnails and heatmaps
exist too; every stored byte and every database row is searched for the original identifiers.
A CT slice is accepted at upload and refused by the gate with its reason.
"""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.data import get_testdata_file

from screening.models import AuditEvent, Image, Prediction, Study
from tests.support.api import api_client_for
from tests.support.images import dicom_data
from tests.support.stored import media_files
from tests.support.worker import until, worker_running

IDENTIFIERS = {
    "PatientName": "Smithwicke^Johanna^Q",
    "PatientID": "PID-99817723",
    "OtherPatientIDs": "ALT-44120987",
    "IssuerOfPatientID": "Northwind Health Registry",
    "PatientBirthDate": "19470312",
    "PatientSex": "F",
    "PatientAge": "077Y",
    "PatientAddress": "42 Wallaby Way Sydney",
    "PatientTelephoneNumbers": "+61-2-5550-1234",
    "AccessionNumber": "ACC-55512345",
    "InstitutionName": "St Elsewhere General Hospital",
    "InstitutionAddress": "1 Infirmary Road Boston",
    "ReferringPhysicianName": "Houseman^Gregory",
    "PerformingPhysicianName": "Quimbyfield^Ada",
    "OperatorsName": "Radtechson^Olaf",
    "StationName": "XRAY-ROOM-7731",
    "StudyID": "STUDY-887766",
    "StudyDate": "20240117",
    "SeriesDate": "20240117",
    "AcquisitionDate": "20240117",
    "ContentDate": "20240117",
    "StudyTime": "101532",
    "StudyDescription": "Chest for Johanna Smithwicke",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.77712345678901234567",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.77798765432109876543",
}
# Searched for in every stored byte and row (names split on ^; free-text-proof words).
NEEDLES = sorted(
    {
        part
        for key, value in IDENTIFIERS.items()
        if key not in ("PatientSex", "PatientAge", "StudyTime")
        for part in (value.split("^") if "^" in value else [value])
        if len(part) >= 5
    }
    | {"Smithwicke", "Wallaby", "Elsewhere", "Houseman", "Quimbyfield", "Radtechson"}
)
UID_KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _identified_dicom(seed: int) -> bytes:
    return dicom_data(seed=seed, patient=IDENTIFIERS, size=(256, 256))


def _original_uids(data: bytes) -> set[str]:
    ds = pydicom.dcmread(BytesIO(data))
    return {str(ds.get(k)) for k in UID_KEYWORDS} | {str(ds.file_meta.MediaStorageSOPInstanceUID)}


def _needles_in(blob: bytes, extra: set[str]) -> list[str]:
    found = []
    for needle in [*NEEDLES, *extra]:
        for encoded in {needle.encode(), needle.upper().encode(), needle.lower().encode()}:
            if encoded in blob:
                found.append(needle)
    return found


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_dicom_identifiers_never_reach_storage_or_the_database(
    tmp_path: Path, client, clinician, tiny_model
):
    api_dicom, web_dicom = _identified_dicom(1), _identified_dicom(2)
    originals = _original_uids(api_dicom) | _original_uids(web_dicom)
    assert "Smithwicke" in api_dicom.decode("latin-1")  # the fixture really carries them
    ct_path = get_testdata_file("CT_small.dcm")
    # Earlier tests of this run may have left files under MEDIA_ROOT: judge only this test's.
    files_before = media_files()
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, **tiny_model) as worker:
        response = api_client_for(clinician).post(
            "/api/v1/studies/",
            {
                "images": [
                    SimpleUploadedFile("scan.dcm", api_dicom, "application/dicom"),
                    SimpleUploadedFile("ct.dcm", Path(ct_path).read_bytes(), "application/dicom"),
                ]
            },
            format="multipart",
        )
        assert response.status_code == 201, response.content
        api_study = Study.objects.get(pk=response.json()["id"])
        client.force_login(clinician)
        response = client.post(
            reverse("screening:study_create"),
            {"files": [SimpleUploadedFile("scan.dcm", web_dicom, "application/dicom")]},
        )
        assert response.status_code == 302, response.content[:2000]
        web_study = Study.objects.exclude(pk=api_study.pk).get()

        def all_final():
            rows = list(Prediction.objects.filter(image__study__in=[api_study, web_study]))
            return len(rows) == 3 and all(p.is_final for p in rows) and rows

        finals = until(all_final, timeout=240, interval=0.5, message="final predictions")
        assert worker.poll() is None, log.read_text()[-3000:]

    # The CT slice got through the upload checks and was refused by the gate, with its reason.
    ct = next(p for p in finals if p.image.original_name == "ct.dcm")
    assert ct.status == Prediction.Status.REJECTED, (ct.status, ct.reason)
    assert "CT or MR slice" in ct.reason
    api_body = api_client_for(clinician).get(f"/api/v1/predictions/{ct.pk}/").json()
    assert api_body["accepted"] is False and "CT or MR slice" in api_body["reason"]

    # Every stored file (originals, thumbnails, heatmaps) is free of the identifiers.
    root = Path(client_settings_media_root())
    files = media_files() - files_before
    stored_dicoms = [f for f in files if f.endswith(".dcm")]
    assert len(stored_dicoms) == 3, files
    assert any(f.endswith("-thumb.jpg") for f in files)
    heatmaps = [f for f in files if f.endswith("-heatmap.jpg")]
    assert heatmaps, [(p.status, p.reason) for p in finals]  # the DX images were screened
    for p in finals:
        if p.status == Prediction.Status.DONE:
            assert p.heatmap.name in heatmaps
    for name in files:
        blob = (root / name).read_bytes()
        assert not _needles_in(blob, originals), (name, _needles_in(blob, originals))

    # The stored DICOMs are still DICOM, with new UIDs and blanked patient module.
    for image in Image.objects.filter(format="dicom").exclude(original_name="ct.dcm"):
        with image.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        for keyword in UID_KEYWORDS:
            assert str(ds.get(keyword)) not in originals and ds.get(keyword), keyword
        assert str(ds.file_meta.MediaStorageSOPInstanceUID) not in originals
        assert str(ds.get("PatientName", "")) != IDENTIFIERS["PatientName"]
        assert ds.get("PatientIdentityRemoved") == "YES"
        assert str(ds.get("Modality")) == "DX"

    # And so is every database row that could carry them.
    rows = json.dumps(
        [
            list(Image.objects.values("dicom_attributes", "original_name")),
            list(Study.objects.values("reference")),
            list(AuditEvent.objects.values("detail", "object_id", "user_agent")),
            list(Prediction.objects.values("reason", "timings_ms", "model_name")),
        ],
        default=str,
    ).encode()
    assert not _needles_in(rows, originals), _needles_in(rows, originals)
    for study in (api_study, web_study):
        study.refresh_from_db()
        assert re.fullmatch(r"CXR-[A-Z2-7]{8}", study.reference), study.reference


def client_settings_media_root() -> str:
    from django.conf import settings

    return str(settings.MEDIA_ROOT)


@pytest.mark.django_db
def test_patient_identifier_as_reference_is_refused_via_api(clinician, nothing_stored):
    with nothing_stored():
        response = api_client_for(clinician).post(
            "/api/v1/studies/",
            {
                "images": [SimpleUploadedFile("s.dcm", _identified_dicom(3))],
                "reference": IDENTIFIERS["PatientID"],
            },
            format="multipart",
        )
    assert response.status_code == 400
    assert response.json()["code"] == "identifying_reference"
