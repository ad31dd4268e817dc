"""Results go back to a real Orthanc: per screened image a Secondary Capture and a Parametric
Map of its heatmap, and one TID 1500 Measurement Report.

The worker's part is played by prediction_execute with a fake screener here (the round trip
with a real worker is in test_roundtrip.py); the objects are read back from Orthanc's REST API
and checked with highdicom and dciodvfy.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.dicommap import parametric_map_read
from mlcore.dicomout import dataset_bytes
from mlcore.dicomreport import report_read
from screening.models import Prediction, Study
from screening.pacs.client import PacsSendError
from screening.pacs.models import PacsStudyLink
from screening.pacs.results import results_send
from screening.services import prediction_execute
from tests.pacs.conftest import PATIENT, chest_dicom, ct_dicom, study_objects, uids_of
from tests.pacs.test_stow import stow
from tests.support.dciodvfy import dciodvfy_errors
from tests.support.screener import FakeResult

pytestmark = [pytest.mark.django_db(transaction=True)]
HEATMAP = np.outer(np.linspace(0, 1, 32), np.ones(24)).astype(np.float32)  # rises downwards


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
    fake_screener.result = FakeResult(heatmap=HEATMAP)
    for prediction in Prediction.objects.order_by("image__position"):
        if prediction.image.position == 1:
            fake_screener.result = FakeResult(
                accepted=False, reason="a CT or MR slice", label=None, overlay_jpeg=None
            )
        prediction_execute(prediction_id=prediction.id)
    return {"dx": dx, "ct": ct, "study_uid": study_uid, "enqueued_results": sent}


def test_results_land_in_the_original_orthanc_study(pacs_study, empty_orthanc, settings):
    orthanc = empty_orthanc
    for data in (pacs_study["dx"], pacs_study["ct"]):
        orthanc.instance_upload(data)
    settings.CXR_PACS_DICOMWEB_URL = orthanc.dicomweb_url
    study = Study.objects.get()
    assert study.status == Study.Status.DONE

    assert results_send(study_id=str(study.pk)) == "sent 3"
    objects = study_objects(orthanc, study_uid=pacs_study["study_uid"])
    assert len(orthanc.studies()) == 1  # same patient and study: one Orthanc study
    (sc,), (pm,), (sr,) = objects["SC"], objects["PM"], objects["SR"]
    dx = uids_of(pacs_study["dx"])
    for ds in (sc, pm, sr):
        assert str(ds.PatientID) == PATIENT["PatientID"]
        assert str(ds.StudyInstanceUID) == pacs_study["study_uid"]
        assert str(ds.SeriesInstanceUID) != dx["SeriesInstanceUID"]
        assert dciodvfy_errors(dataset_bytes(ds=ds)) == []
    assert sc.BurnedInAnnotation == "YES" and "NOT FOR DIAGNOSTIC USE" in sc.ImageComments
    assert "pneumonia" in sc.ImageComments and "fake-model 9.9.9" in sc.ImageComments

    # The map lies on the source film (its matrix, its SOP Instance UID), values kept.
    source = pm.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert source.ReferencedSOPInstanceUID == dx["SOPInstanceUID"]
    assert (pm.Rows, pm.Columns) == (Study.objects.get().images.get(position=0).height,
                                     Study.objects.get().images.get(position=0).width)  # fmt: skip
    values = parametric_map_read(ds=pm)
    assert values[0].max() < 0.05 and values[-1].min() > 0.95

    images, disclaimer = report_read(ds=sr)
    assert "NOT FOR DIAGNOSTIC USE" in disclaimer
    film, ct = images
    assert film["source_sop_instance_uid"] == dx["SOPInstanceUID"]
    assert film["label"] == "pneumonia" and film["gate_decision"] == "accepted"
    assert film["probabilities"] == pytest.approx({"covid": 0.1, "pneumonia": 0.7, "normal": 0.2})
    assert (film["model_name"], film["model_version"]) == ("fake-model", "9.9.9")
    assert (ct["gate_decision"], ct["reason"]) == ("rejected", "a CT or MR slice")
    assert pacs_study["enqueued_results"]  # the study's final save queued the task

    # Re-running is safe: nothing new is sent, and a forced re-send overwrites, never adds.
    assert results_send(study_id=str(study.pk)) == "already sent"
    PacsStudyLink.objects.update(results_key="")
    assert results_send(study_id=str(study.pk)) == "sent 3"
    again = study_objects(orthanc, study_uid=pacs_study["study_uid"])
    assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in objects.items()}


def test_orthanc_down_raises_for_a_retry_and_healthz_says_so(
    pacs_study, empty_orthanc, settings, client
):
    orthanc = empty_orthanc
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
    assert results_send(study_id=str(Study.objects.get().pk)) == "sent 3"


def test_a_peer_takes_its_results_by_dicomweb_or_c_store_as_registered(
    pacs_study, empty_orthanc, settings, pacs_account
):
    from screening.pacs.peers import peer_register

    orthanc = empty_orthanc
    for data in (pacs_study["dx"], pacs_study["ct"]):
        orthanc.instance_upload(data)
    settings.CXR_PACS_DICOMWEB_URL = orthanc.dicomweb_url
    peer = peer_register(ae_title="VIAWEB", username=pacs_account.username, host="127.0.0.1",
                         port=9, results_by="dicomweb")  # fmt: skip
    PacsStudyLink.objects.update(peer=peer)
    study_id = str(Study.objects.get().pk)
    assert results_send(study_id=study_id) == "sent 3"
    assert len(study_objects(orthanc, study_uid=pacs_study["study_uid"])["SR"]) == 1

    peer.results_by = peer.ResultsBy.DIMSE  # now by C-STORE to 127.0.0.1:9, where nothing listens
    peer.save()
    PacsStudyLink.objects.update(results_key="")
    with pytest.raises(PacsSendError, match=r"VIAWEB at 127\.0\.0\.1:9 is unreachable"):
        results_send(study_id=study_id)
