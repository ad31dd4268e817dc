"""The predict_image task: retries, final failure, idempotency; and a REAL worker process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import OperationalError

from mlcore.errors import ModelUnavailableError
from mlcore.registry import DEFAULT_MODEL_NAME, model_files_check
from screening import inference, services
from screening.models import Prediction, Study
from screening.services import study_submit
from screening.tasks import predict_image
from tests.support.images import dicom_data, png_upload, upload
from tests.support.services import REPO_ROOT
from tests.support.worker import until, worker_running

pytestmark = pytest.mark.django_db


def test_task_options():
    assert predict_image.acks_late is True
    assert predict_image.reject_on_worker_lost is True
    assert OperationalError in predict_image.autoretry_for
    assert OSError in predict_image.autoretry_for
    assert predict_image.max_retries >= 1


def test_task_runs_service(submit, fake_screener):
    prediction = Prediction.objects.get(image__study=submit())
    predict_image.apply(args=[str(prediction.id)])
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE


def test_transient_errors_retry_then_fail_readably(submit, fake_screener, monkeypatch):
    prediction = Prediction.objects.get(image__study=submit())
    calls = []

    def flaky(*, prediction_id, **options):
        calls.append(prediction_id)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("screening.tasks.prediction_execute", flaky)
    monkeypatch.setattr(predict_image, "retry_backoff", False)
    monkeypatch.setattr(predict_image, "default_retry_delay", 0)
    result = predict_image.apply(args=[str(prediction.id)])
    assert result.failed()
    assert len(calls) == predict_image.max_retries + 1
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert "OperationalError" in prediction.reason and "server closed" in prediction.reason


def test_storage_error_is_retried(submit, fake_screener, monkeypatch):
    prediction = Prediction.objects.get(image__study=submit())
    attempts = []
    real = services.prediction_execute

    def once_broken(*, prediction_id, **options):
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("S3 read timed out")
        return real(prediction_id=prediction_id, **options)

    monkeypatch.setattr("screening.tasks.prediction_execute", once_broken)
    monkeypatch.setattr(predict_image, "retry_backoff", False)
    monkeypatch.setattr(predict_image, "default_retry_delay", 0)
    predict_image.apply(args=[str(prediction.id)])
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE and len(attempts) == 2


def test_screener_error_is_remembered(monkeypatch):
    import sys
    from types import SimpleNamespace

    from mlcore.errors import ModelUnavailableError

    loads = []

    class Broken:
        @classmethod
        def load(cls, name=None, compiled_dir=None):
            loads.append(name)
            raise OSError("model.keras is truncated")

    inference.screener_reset()
    monkeypatch.setitem(sys.modules, "mlcore.pipeline", SimpleNamespace(Screener=Broken))
    try:
        for _ in range(2):
            with pytest.raises(ModelUnavailableError, match="truncated"):
                inference.screener_get()
        inference.screener_preload()  # logs, never raises
    finally:
        inference.screener_reset()
    assert len(loads) == 1


# --------------------------------------------------------------------------- real worker


def _fixture_model_env() -> dict[str, str]:
    """Use the configured model, else the tiny fixture model, else the shipped one."""
    configured = os.environ.get("CXR_WEIGHTS_DIR"), os.environ.get("CXR_MODEL_NAME")
    if all(configured) and (Path(configured[0]) / configured[1] / "model.keras").is_file():
        return {"CXR_WEIGHTS_DIR": configured[0], "CXR_MODEL_NAME": configured[1]}
    fixtures = REPO_ROOT / "tests" / "fixtures" / "models"
    for card in sorted(fixtures.glob("*/card.json")):
        if (card.parent / "model.keras").is_file():
            return {"CXR_WEIGHTS_DIR": str(fixtures), "CXR_MODEL_NAME": card.parent.name}
    shipped = REPO_ROOT / "mlcore" / "weights"
    name = os.environ.get("CXR_MODEL_NAME", DEFAULT_MODEL_NAME)
    try:
        model_files_check(name=name, weights_dir=shipped)
    except ModelUnavailableError:
        pass
    else:
        return {"CXR_WEIGHTS_DIR": str(shipped), "CXR_MODEL_NAME": name}
    pytest.skip("no trained model in tests/fixtures/models or mlcore/weights yet")


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_worker_screens_a_study(tmp_path: Path, clinician, settings, monkeypatch):
    env = _fixture_model_env()
    settings.CXR_MODEL_NAME = env["CXR_MODEL_NAME"]
    monkeypatch.setenv("CXR_WEIGHTS_DIR", env["CXR_WEIGHTS_DIR"])
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, **env) as worker:
        study = study_submit(
            owner=clinician,
            files=[
                png_upload("frontal.png", seed=3),
                upload("scan.dcm", dicom_data(seed=4, patient={"PatientName": "Doe^J"})),
            ],
        )
        predictions = list(Prediction.objects.filter(image__study=study))

        def all_final():
            rows = Prediction.objects.filter(id__in=[p.id for p in predictions])
            return all(p.is_final for p in rows) and list(rows)

        finals = until(all_final, timeout=240, interval=0.5, message="final predictions")
        assert worker.poll() is None, log.read_text()[-3000:]
    statuses = {p.status for p in finals}
    assert statuses <= {Prediction.Status.DONE, Prediction.Status.REJECTED}, [
        (p.status, p.reason) for p in finals
    ]
    for p in finals:
        assert p.attempts == 1 and p.model_name == env["CXR_MODEL_NAME"] and p.model_version
        if p.status == Prediction.Status.DONE:
            assert p.heatmap and p.heatmap.storage.exists(p.heatmap.name)
            assert set(p.probabilities) == {"covid", "pneumonia", "normal"}
            assert abs(sum(p.probabilities.values()) - 1.0) < 1e-3
        else:
            assert p.reason
    assert Study.objects.get(id=study.id).status == Study.Status.DONE


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_without_model_fails_predictions_and_survives(
    tmp_path: Path, clinician, monkeypatch
):
    missing = tmp_path / "no-weights"
    missing.mkdir()
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(missing))
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, CXR_WEIGHTS_DIR=str(missing)) as worker:
        study = study_submit(owner=clinician, files=[png_upload(seed=1), png_upload(seed=2)])
        ids = list(Prediction.objects.filter(image__study=study).values_list("id", flat=True))

        def all_final():
            rows = list(Prediction.objects.filter(id__in=ids))
            return all(p.is_final for p in rows) and rows

        finals = until(all_final, timeout=120, interval=0.5, message="failed predictions")
        assert worker.poll() is None, log.read_text()[-3000:]
    for p in finals:
        assert p.status == Prediction.Status.FAILED
        assert p.reason.startswith("The model is unavailable: "), p.reason
    assert "Model" in log.read_text() or "unavailable" in log.read_text()


def test_unexpected_error_fails_the_prediction_without_retry(submit, fake_screener):
    fake_screener.error = ValueError("tensor shape mismatch")
    prediction = Prediction.objects.get(image__study=submit())
    result = predict_image.apply(args=[str(prediction.id)])
    assert result.failed()
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert prediction.reason == "Screening failed: ValueError: tensor shape mismatch"
    assert prediction.attempts == 1
