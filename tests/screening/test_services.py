"""Services: submission (all-or-nothing, sniffing, de-identification), execution, reviews."""

from __future__ import annotations

import hashlib
import re
import sys
import zipfile
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage
from django.test import override_settings

from mlcore.errors import CorruptImageError, ModelUnavailableError
from screening import services
from screening.models import AuditEvent, Image, Prediction, Review, Study
from screening.services import (
    ReviewError,
    SubmissionError,
    filename_sanitise,
    prediction_execute,
    prediction_rerun,
    review_record,
    study_status_refresh,
    study_submit,
)
from tests.support.images import dicom_data, jpeg_data, png_data, png_upload, upload
from tests.support.screener import FakeResult

pytestmark = pytest.mark.django_db


def _zip_bytes() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    return buf.getvalue()


def test_submit_stores_images_predictions_audit_and_enqueues(
    clinician, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        study = study_submit(
            owner=clinician,
            files=[png_upload("a.png"), upload("b.jpg", jpeg_data(seed=1), "image/jpeg")],
        )
    assert re.fullmatch(r"CXR-[A-Z2-7]{8}", study.reference)
    assert study.status == Study.Status.PROCESSING
    images = list(study.images.order_by("position"))
    assert [i.format for i in images] == ["png", "jpeg"]
    assert [i.original_name for i in images] == ["a.png", "b.jpg"]
    for image in images:
        with image.file.open("rb") as handle:
            data = handle.read()
        assert hashlib.sha256(data).hexdigest() == image.sha256
        assert image.size_bytes == len(data)
        assert (image.width, image.height) == (256, 256)
        assert default_storage.exists(image.thumbnail.name)
        # Stored under the image's id, never the uploader's name (a hex id may end in "a").
        assert Path(image.file.name).stem == str(image.id)
    predictions = Prediction.objects.filter(image__study=study)
    assert {p.status for p in predictions} == {Prediction.Status.QUEUED}
    assert all(p.model_name for p in predictions)
    assert sorted(enqueued) == sorted(str(p.id) for p in predictions)
    assert all(p.enqueued for p in Prediction.objects.filter(image__study=study))
    event = AuditEvent.objects.get(action="study.submit")
    assert event.actor == clinician and event.object_id == str(study.id)


def test_submit_keeps_given_reference(clinician, enqueued):
    study = study_submit(owner=clinician, files=[png_upload()], reference="  WARD-7 \x00 ")
    assert study.reference == "WARD-7"


@pytest.mark.parametrize(
    ("name", "data", "code", "fragment"),
    [
        ("empty.png", b"", "empty", "empty"),
        ("notes.png", b"just some text, not an image\n" * 10, "not_an_image", "not a PNG"),
        ("doc.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not_an_image", ""),
        ("page.png", b"<!DOCTYPE html><html><body>hi</body></html>", "not_an_image", ""),
        ("archive.png", _zip_bytes(), "not_an_image", ""),
        ("cut.png", png_data()[:400], "corrupt_image", ""),
        ("tiny.png", png_data(size=(16, 16)), "image_too_small", ""),
    ],
)
def test_submit_rejects_bad_files_naming_them(clinician, enqueued, name, data, code, fragment):
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[png_upload("fine.png"), upload(name, data)])
    assert info.value.code == code
    assert info.value.filename == name
    assert name in info.value.message and fragment in info.value.message
    assert not Study.objects.exists() and not Image.objects.exists()
    assert enqueued == []


def test_submit_rejects_decompression_bomb(clinician, enqueued, settings):
    settings.CXR_MAX_PIXELS = 100 * 100
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[png_upload("big.png")])
    assert info.value.code == "image_too_large"
    assert not Study.objects.exists()


def test_submit_rejects_oversize_and_too_many(clinician, enqueued, settings):
    settings.CXR_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[png_upload("huge.png")])
    assert info.value.code == "too_large" and "huge.png" in info.value.message
    settings.CXR_MAX_UPLOAD_BYTES = 10_000_000
    settings.CXR_MAX_FILES_PER_STUDY = 2
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[png_upload(seed=i) for i in range(3)])
    assert info.value.code == "too_many_files"
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[])
    assert info.value.code == "no_files"
    assert not Study.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"with_pixels": False}, "no pixel data"),
        ({"frames": 3}, "Multi-frame"),
        ({"colour": True, "bits": 8, "colour_model": "HSV"}, "pixels as HSV"),
    ],
)
def test_submit_rejects_unsupported_dicom(clinician, enqueued, kwargs, fragment):
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[upload("scan.dcm", dicom_data(**kwargs))])
    assert info.value.code == "unsupported_dicom"
    assert fragment in info.value.message and "scan.dcm" in info.value.message
    assert not Study.objects.exists()


def test_submit_deidentifies_dicom_before_storing(clinician, enqueued):
    patient = {
        "PatientName": "Doe^Jane",
        "PatientID": "PID-12345",
        "AccessionNumber": "ACC-999",
        "PatientBirthDate": "19700101",
        "InstitutionName": "St Elsewhere",
    }
    data = dicom_data(patient=patient)
    study = study_submit(owner=clinician, files=[upload("x.dcm", data, "application/dicom")])
    image = study.images.get()
    assert image.format == "dicom"
    with image.file.open("rb") as handle:
        stored = handle.read()
    for value in patient.values():
        assert value.encode() not in stored
        assert value not in study.reference
    assert image.dicom_attributes["Modality"] == "DX"
    assert image.dicom_attributes["PatientIdentityRemoved"] == "YES"
    assert "PatientName" not in image.dicom_attributes
    assert study.reference.startswith("CXR-")


@pytest.mark.parametrize("reference", ["PID-12345", "acc-999", "Doe^Jane"])
def test_submit_refuses_patient_identifier_as_reference(clinician, enqueued, reference):
    data = dicom_data(
        patient={"PatientName": "Doe^Jane", "PatientID": "PID-12345", "AccessionNumber": "ACC-999"}
    )
    with pytest.raises(SubmissionError) as info:
        study_submit(owner=clinician, files=[upload("x.dcm", data)], reference=reference)
    assert info.value.code == "identifying_reference" and "x.dcm" in info.value.message
    assert not Study.objects.exists()


def test_submit_name_is_never_a_path(clinician, enqueued):
    study = study_submit(owner=clinician, files=[png_upload("../../etc/\u202epasswd\x07.png")])
    image = study.images.get()
    assert image.original_name == "passwd.png"
    assert image.file.name.startswith(f"studies/{study.id}/")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("C:\\Users\\me\\scan.png", "scan.png"),
        ("a/b/c.jpg", "c.jpg"),
        ("..", "upload"),
        ("", "upload"),
        ("bad\r\nname.png", "badname.png"),
    ],
)
def test_filename_sanitise(raw, clean):
    assert filename_sanitise(name=raw) == clean


def test_submit_survives_broker_down(clinician, monkeypatch, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    from screening import tasks

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.predict_image, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        study = study_submit(owner=clinician, files=[png_upload()])
    prediction = Prediction.objects.get(image__study=study)
    assert prediction.status == Prediction.Status.QUEUED
    assert prediction.enqueued is None


def test_submit_removes_stored_files_when_the_database_fails(clinician, enqueued, monkeypatch):
    saved: list[str] = []
    real_save = default_storage.save

    def spy(name, content, max_length=None):
        stored = real_save(name, content, max_length=max_length)
        saved.append(stored)
        return stored

    monkeypatch.setattr(default_storage, "save", spy)
    monkeypatch.setattr(
        services.submission, "audit_record", lambda **kw: (_ for _ in ()).throw(RuntimeError("db"))
    )
    with pytest.raises(RuntimeError):
        study_submit(owner=clinician, files=[png_upload()])
    assert saved and not any(default_storage.exists(n) for n in saved)
    assert not Study.objects.exists()


# --------------------------------------------------------------------------- execution


def test_execute_done_saves_heatmap_and_refreshes_study(submit, fake_screener):
    study = submit()
    prediction = Prediction.objects.get(image__study=study)
    result = prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert result.status == prediction.status == Prediction.Status.DONE
    assert prediction.label == "pneumonia"
    assert prediction.probabilities == {"covid": 0.1, "pneumonia": 0.7, "normal": 0.2}
    assert prediction.model_version == "9.9.9" and prediction.model_name == "fake-model"
    assert prediction.attempts == 1 and prediction.started and prediction.finished
    assert prediction.timings_ms["classify"] == 2.0
    assert default_storage.exists(prediction.heatmap.name)
    study.refresh_from_db()
    assert study.status == Study.Status.DONE


def test_execute_twice_is_harmless(submit, fake_screener):
    prediction = Prediction.objects.get(image__study=submit())
    prediction_execute(prediction_id=prediction.id)
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.attempts == 1
    assert len(fake_screener.calls) == 1


def test_execute_rejected_keeps_gate_reason(submit, fake_screener):
    fake_screener.result = FakeResult(
        accepted=False, reason="lateral view", label=None, probabilities=None, overlay_jpeg=None
    )
    prediction = Prediction.objects.get(image__study=submit())
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.REJECTED
    assert prediction.reason == "lateral view"
    assert prediction.accepted is False and not prediction.heatmap


def test_execute_image_error_fails_readably(submit, fake_screener):
    fake_screener.error = CorruptImageError("The PNG file is truncated or corrupt.")
    prediction = Prediction.objects.get(image__study=submit())
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert prediction.reason == "The PNG file is truncated or corrupt."


def test_execute_model_unavailable_fails_every_prediction(submit, monkeypatch):
    from screening import inference

    class BrokenScreener:
        @classmethod
        def load(cls, name=None):
            raise ModelUnavailableError("model 'cxr-v1' not found")

    inference.screener_reset()
    monkeypatch.setitem(sys.modules, "mlcore.pipeline", SimpleNamespace(Screener=BrokenScreener))
    try:
        prediction = Prediction.objects.get(image__study=submit())
        prediction_execute(prediction_id=prediction.id)
    finally:
        inference.screener_reset()
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert prediction.reason.startswith("The model is unavailable: ")


def test_execute_gives_up_after_max_attempts(submit, fake_screener, settings):
    settings.CXR_PREDICTION_MAX_ATTEMPTS = 2
    prediction = Prediction.objects.get(image__study=submit())
    Prediction.objects.filter(id=prediction.id).update(attempts=2, status="running")
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert "2 attempts" in prediction.reason
    assert fake_screener.calls == []


# --------------------------------------------------------------------------- reviews, re-run


def test_review_record_and_update(done_prediction, reviewer):
    review = review_record(
        prediction=done_prediction, reviewer=reviewer, verdict="agree", label=None
    )
    assert review.label == "pneumonia"
    review = review_record(
        prediction=done_prediction, reviewer=reviewer, verdict="disagree", label="normal",
        note="clear lungs",
    )  # fmt: skip
    assert Review.objects.count() == 1 and review.verdict == "disagree"
    assert list(
        AuditEvent.objects.filter(action__startswith="review.").values_list("action", flat=True)
    ) == ["review.update", "review.create"]


@pytest.mark.parametrize(
    ("verdict", "label"),
    [("maybe", None), ("disagree", None), ("disagree", "pneumonia"), ("agree", "covid"),
     ("agree", "cancer")],
)  # fmt: skip
def test_review_rejects_invalid(done_prediction, reviewer, verdict, label):
    with pytest.raises(ReviewError) as info:
        review_record(prediction=done_prediction, reviewer=reviewer, verdict=verdict, label=label)
    assert info.value.code == "invalid"


def test_review_needs_reviewer_and_done(done_prediction, clinician, reviewer, submit):
    with pytest.raises(ReviewError) as info:
        review_record(prediction=done_prediction, reviewer=clinician, verdict="agree", label=None)
    assert info.value.code == "forbidden"
    queued = Prediction.objects.get(image__study=submit())
    with pytest.raises(ReviewError):
        review_record(prediction=queued, reviewer=reviewer, verdict="agree", label=None)


def test_rerun_keeps_old_prediction(done_prediction, admin_user, enqueued,
                                    django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        new = prediction_rerun(image=done_prediction.image, actor=admin_user)
    done_prediction.refresh_from_db()
    assert done_prediction.is_current is False and done_prediction.status == "done"
    assert new.is_current and new.status == Prediction.Status.QUEUED
    assert enqueued[-1] == str(new.id)
    study = Study.objects.get(id=done_prediction.image.study_id)
    assert study.status == Study.Status.PROCESSING
    assert AuditEvent.objects.filter(action="prediction.rerun", object_id=str(new.id)).exists()


def test_study_status_refresh(submit):
    study = submit(files=[png_upload(seed=1), png_upload(seed=2)])
    first, second = Prediction.objects.filter(image__study=study)
    Prediction.objects.filter(id=first.id).update(status="done")
    assert study_status_refresh(study=study).status == Study.Status.PROCESSING
    Prediction.objects.filter(id=second.id).update(status="failed")
    assert study_status_refresh(study=study).status == Study.Status.DONE


@override_settings(CXR_MODEL_NAME="custom-model")
def test_submit_uses_configured_model_name(submit):
    prediction = Prediction.objects.get(image__study=submit())
    assert prediction.model_name == "custom-model"


def test_deleting_a_study_removes_its_files(
    submit, fake_screener, django_capture_on_commit_callbacks
):
    import screening.signals  # noqa: F401  (ScreeningConfig.ready imports it in the app)

    study = submit()
    prediction = Prediction.objects.get(image__study=study)
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    image = study.images.get()
    names = [image.file.name, image.thumbnail.name, prediction.heatmap.name]
    assert all(default_storage.exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=True):
        study.delete()
    assert not any(default_storage.exists(n) for n in names)
