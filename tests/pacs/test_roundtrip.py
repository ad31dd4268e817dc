"""The whole round trip over DICOMweb with real parts: Orthanc at its defaults (chunked STOW-RS),
the web server `make demo` runs (scripts/demo-web.sh), a Celery worker with the tiny model.

A DICOM pushed into Orthanc is sent to the portal by Orthanc's own STOW-RS client
(/dicom-web/servers/{name}/stow), the worker screens it, and the report, the Secondary Capture
and the Parametric Map appear in that Orthanc study, read back through Orthanc's REST API.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlcore.dicommap import parametric_map_read
from mlcore.dicomreport import report_read
from screening.models import Image, Prediction, Study
from screening.pacs.models import PacsStudyLink
from tests.pacs.conftest import chest_dicom, ct_dicom, study_objects, uids_of
from tests.support.worker import until, worker_running

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
SERVER = "cxrscreen"


def orthanc_for(*, orthanc, web, token: str):
    """Make the portal Orthanc's DICOMweb server `cxrscreen` (token header, default chunked)."""
    orthanc.server_put(
        name=SERVER, url=f"{web.url}/dicomweb/", headers={"Authorization": f"Token {token}"}
    )
    return orthanc


def worker_ready(log: Path) -> None:
    until(lambda: "loaded" in log.read_text(errors="replace"), timeout=180, message="model load")


def results_arrived(orthanc, study_uid: str):
    def check():
        found = study_objects(orthanc, study_uid=study_uid)
        return found if "SR" in found else None

    return check


def counts(found: dict[str, list]) -> dict[str, int]:
    return {kind: len(objects) for kind, objects in found.items()}


def test_round_trip_orthanc_to_portal_and_back(
    tmp_path, web_server, tiny_model, pacs_token, empty_orthanc, record_property
):
    web = web_server(workers=1, threads=4, demo=True)
    orthanc = orthanc_for(orthanc=empty_orthanc, web=web, token=pacs_token)
    env = {**tiny_model, "CXR_PACS_DICOMWEB_URL": orthanc.dicomweb_url}
    log = tmp_path / "worker.log"
    dx = chest_dicom(seed=1)
    study_uid = uids_of(dx)["StudyInstanceUID"]
    ct = ct_dicom(study_uid=study_uid)
    with worker_running(log_path=log, **env):
        worker_ready(log)
        started = time.monotonic()
        orthanc_study = orthanc.instance_upload(dx)["ParentStudy"]
        assert orthanc.instance_upload(ct)["ParentStudy"] == orthanc_study
        response = orthanc.stow_send(server=SERVER, resources=[orthanc_study])
        assert response.ok, (response.text, orthanc.log(), web.log())
        found = until(results_arrived(orthanc, study_uid), timeout=120, interval=0.2,
                      message=f"results in Orthanc\n{log.read_text()[-3000:]}")  # fmt: skip
        elapsed = time.monotonic() - started
        record_property("round_trip_s", round(elapsed, 2))
        print(f"\nround trip (instance into Orthanc -> SR back in Orthanc): {elapsed:.2f} s")

        # A second push of the study (now with our results in it) adds nothing anywhere.
        assert orthanc.stow_send(server=SERVER, resources=[orthanc_study]).ok
        time.sleep(2)
        assert Image.objects.count() == 2 and Study.objects.count() == 1
        assert counts(study_objects(orthanc, study_uid=study_uid)) == counts(found)

    assert counts(found) == {"DX": 1, "CT": 1, "SC": 1, "PM": 1, "SR": 1}
    study = Study.objects.get()
    assert study.origin == Study.Origin.PACS and study.status == Study.Status.DONE
    predictions = {p.image.dicom_attributes["Modality"]: p for p in Prediction.objects.all()}
    assert predictions["CT"].status == Prediction.Status.REJECTED
    (sr,), (pm,) = found["SR"], found["PM"]
    images, disclaimer = report_read(ds=sr)
    assert "NOT FOR DIAGNOSTIC USE" in disclaimer
    by_source = {image["source_sop_instance_uid"]: image for image in images}
    film = by_source[uids_of(dx)["SOPInstanceUID"]]
    assert film["model_name"] == "tiny" and film["gate_decision"] == "accepted"
    assert film["probabilities"] == pytest.approx(predictions["DX"].probabilities, abs=1e-5)
    assert "CT or MR slice" in by_source[uids_of(ct)["SOPInstanceUID"]]["reason"]
    referenced = pm.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == uids_of(dx)["SOPInstanceUID"]
    assert parametric_map_read(ds=pm).shape == (found["DX"][0].Rows, found["DX"][0].Columns)
    assert len(orthanc.studies()) == 1


def test_results_wait_for_orthanc_to_come_back(
    tmp_path, web_server, tiny_model, pacs_token, empty_orthanc
):
    web = web_server(workers=1, threads=4, demo=True)
    orthanc = orthanc_for(orthanc=empty_orthanc, web=web, token=pacs_token)
    env = {
        **tiny_model,
        "CXR_PACS_DICOMWEB_URL": orthanc.dicomweb_url,
        "CXR_PACS_RETRY_DELAY_S": "1",
        "CXR_PACS_RETRY_MAX_DELAY_S": "2",
    }
    log = tmp_path / "worker.log"
    dx = chest_dicom(seed=2)
    # Pushed, then Orthanc goes down before the worker screens it: results are due while down.
    orthanc_study = orthanc.instance_upload(dx)["ParentStudy"]
    assert orthanc.stow_send(server=SERVER, resources=[orthanc_study]).ok
    orthanc.stop()
    with worker_running(log_path=log, **env):
        until(lambda: PacsStudyLink.objects.exclude(results_error="").exists(), timeout=180,
              message="a failed delivery")  # fmt: skip
        assert Study.objects.get().status == Study.Status.DONE
        assert "unreachable" in PacsStudyLink.objects.get().results_error
        orthanc.start()
        message = f"results after Orthanc came back\n{log.read_text()[-3000:]}"
        found = until(results_arrived(orthanc, uids_of(dx)["StudyInstanceUID"]), timeout=120,
                      interval=0.5, message=message)  # fmt: skip
    assert counts(found) == {"DX": 1, "SC": 1, "PM": 1, "SR": 1}
    link = PacsStudyLink.objects.get()
    assert link.results_sent is not None and link.results_error == ""
