"""Results go back to a real Orthanc as a Secondary Capture per screened image and one SR.

The worker's part is played by prediction_execute with a fake screener here (the round trip
with a real worker is in test_roundtrip.py); the objects are read back from Orthanc's REST API
and checked with pydicom.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
import pytest

from screening.models import Prediction, Study
from screening.pacs.client import PacsSendError
from screening.pacs.models import PacsStudyLink
from screening.pacs.results import results_send
from screening.services import prediction_execute
from tests.pacs.conftest import PATIENT, chest_dicom, ct_dicom, uids_of
from tests.pacs.test_stow import stow
from tests.support.screener import FakeResult

pytestmark = [pytest.mark.django_db(transaction=True)]


def sr_texts(ds) -> dict[str, list]:
    """Flatten an SR's content tree into {concept meaning: [values]}."""
    found: dict[str, list] = {}

    def walk(items):
        for item in items:
            meaning = item.ConceptNameCodeSequence[0].CodeMeaning
            if "TextValue" in item:
                found.setdefault(meaning, []).append(str(item.TextValue))
            if "MeasuredValueSequence" in item:
                value = float(item.MeasuredValueSequence[0].NumericValue)
                found.setdefault(meaning, []).append(value)
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    return found


def orthanc_objects(orthanc, study_uid: str) -> dict[str, list]:
    """Return the study's instances in Orthanc by modality (read with pydicom)."""
    by_modality: dict[str, list] = {}
    for study_id in orthanc.studies():
        for instance in orthanc.study_instances(study_id):
            ds = pydicom.dcmread(BytesIO(orthanc.instance_file(instance["ID"])))
            if str(ds.StudyInstanceUID) == study_uid:
                by_modality.setdefault(str(ds.Modality), []).append(ds)
    return by_modality


@pytest.fixture
def pacs_study(pacs_token, enqueued, fake_screener, monkeypatch, settings):
    """A PACS study of a DX film (screened) and a CT slice (refused by the gate)."""
    from screening.pacs import signals

    settings.CXR_PACS_DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # replaced by each test
    sent: list[str] = []
    monkeypatch.setattr(signals, "results_enqueue", lambda study_id: sent.append(study_id))
    dx = chest_dicom(seed=21)
    study_uid = uids_of(dx)["StudyInstanceUID"]
    ct = ct_dicom(study_uid=study_uid)
    assert stow(pacs_token, [dx, ct]).status_code == 200
    for prediction in Prediction.objects.order_by("image__position"):
        if prediction.image.position == 1:
            fake_screener.result = FakeResult(
                accepted=False, reason="a CT or MR slice", label=None, overlay_jpeg=None
            )
        prediction_execute(prediction_id=prediction.id)
    return {"dx": dx, "ct": ct, "study_uid": study_uid, "enqueued_results": sent}


def test_results_land_in_the_original_orthanc_study(pacs_study, orthanc_factory, settings):
    orthanc = orthanc_factory()
    for data in (pacs_study["dx"], pacs_study["ct"]):
        orthanc.instance_upload(data)
    settings.CXR_PACS_DICOMWEB_URL = orthanc.dicomweb_url
    study = Study.objects.get()
    assert study.status == Study.Status.DONE

    assert results_send(study_id=str(study.pk)) == "sent 2"
    objects = orthanc_objects(orthanc, pacs_study["study_uid"])
    assert len(orthanc.studies()) == 1  # same patient and study: one Orthanc study
    (sc,) = objects["OT"]
    (sr,) = objects["SR"]
    for ds in (sc, sr):
        assert str(ds.PatientID) == PATIENT["PatientID"]
        assert str(ds.StudyInstanceUID) == pacs_study["study_uid"]
        assert str(ds.SeriesInstanceUID) not in {uids_of(pacs_study["dx"])["SeriesInstanceUID"]}
    assert sc.BurnedInAnnotation == "YES" and "NOT FOR DIAGNOSTIC USE" in sc.ImageComments
    assert "pneumonia" in sc.ImageComments and "fake-model 9.9.9" in sc.ImageComments
    assert sc.pixel_array.shape[2] == 3
    texts = sr_texts(sr)
    assert texts["Screening label"] == ["pneumonia"]
    assert texts["Probability of pneumonia"] == [pytest.approx(0.7)]
    assert texts["Input gate decision"] == ["accepted", "rejected"]
    assert texts["Input gate reason"] == ["a CT or MR slice"]
    assert texts["Model name"] == ["fake-model", "fake-model"]
    assert texts["Model version"] == ["9.9.9", "9.9.9"]
    assert "NOT FOR DIAGNOSTIC USE" in texts["Disclaimer"][0]
    assert pacs_study["enqueued_results"]  # the study's final save queued the task

    # Re-running is safe: nothing new is sent, and a forced re-send overwrites, never adds.
    assert results_send(study_id=str(study.pk)) == "already sent"
    PacsStudyLink.objects.update(results_key="")
    assert results_send(study_id=str(study.pk)) == "sent 2"
    again = orthanc_objects(orthanc, pacs_study["study_uid"])
    assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in objects.items()}


def test_orthanc_down_raises_for_a_retry_and_healthz_says_so(
    pacs_study, orthanc_factory, settings, client
):
    orthanc = orthanc_factory()
    orthanc.instance_upload(pacs_study["dx"])
    settings.CXR_PACS_DICOMWEB_URL = orthanc.dicomweb_url
    assert client.get("/healthz").json()["pacs"] == "ok"
    orthanc.stop()
    with pytest.raises(PacsSendError):
        results_send(study_id=str(Study.objects.get().pk))
    assert PacsStudyLink.objects.get().results_key == ""
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["pacs"].startswith("error")
    orthanc.start()
    assert results_send(study_id=str(Study.objects.get().pk)) == "sent 2"
