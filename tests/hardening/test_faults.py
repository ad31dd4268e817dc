"""Faults on the real stack: a worker SIGKILLed mid-prediction, the broker down at submit time,
a missing or corrupt model. Each runs a real Celery worker process."""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from portal.celery import app as celery_app
from screening.models import Prediction, Study
from screening.services import prediction_execute, study_submit
from tests.support.api import api_client_for
from tests.support.images import png_upload
from tests.support.stack import broker_is_redis, free_port
from tests.support.stored import media_files
from tests.support.worker import until, worker_running

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _status(prediction_id) -> Prediction:
    return Prediction.objects.get(id=prediction_id)


def _final(prediction_id, *, timeout: float = 180) -> Prediction:
    return until(
        lambda: (p := _status(prediction_id)).is_final and p,
        timeout=timeout,
        interval=0.3,
        message=f"prediction {prediction_id} to finish",
    )


def _submitted_and_running(*, owner, seed: int) -> tuple[Study, Prediction]:
    """Submit one image and wait until a worker has marked its prediction running."""
    study = study_submit(owner=owner, files=[png_upload(seed=seed)])
    prediction = Prediction.objects.get(image__study=study)
    until(
        lambda: _status(prediction.id).status == Prediction.Status.RUNNING,
        timeout=120, interval=0.2, message="the prediction to start",
    )  # fmt: skip
    return study, prediction


def _one_prediction_per_image(study: Study) -> None:
    for image in study.images.all():
        assert image.predictions.count() == 1, "a redelivery must not add predictions"
        assert image.predictions.filter(is_current=True).count() == 1


# --------------------------------------------------------------------------- SIGKILL


def test_pool_child_sigkilled_mid_prediction_is_redelivered_and_done(
    tmp_path, clinician, tiny_model
):
    """Kill the process running the task: reject_on_worker_lost requeues it at once."""
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, hold_first_screen_s=60, **tiny_model) as worker:
        study, prediction = _submitted_and_running(owner=clinician, seed=5)
        children = _children(worker.pid)
        assert children, "no pool child"
        for child in children:
            os.kill(child, signal.SIGKILL)
        done = _final(prediction.id)
        assert worker.poll() is None, log.read_text()[-3000:]
    text = log.read_text()
    assert "WorkerLostError" in text or "SIGKILL" in text or "signal 9" in text, text[-3000:]
    assert done.status == Prediction.Status.DONE, (done.status, done.reason)
    assert done.attempts == 2  # killed once, delivered again, finished
    _one_prediction_per_image(study)


def test_pool_child_sigkilled_mid_batch_each_image_runs_again_alone(
    tmp_path, clinician, tiny_model, fake_screener
):
    """One delivery claims a study's three images and is killed mid-batch. Meanwhile a
    member's own delivery leaves it alone; the leader's redelivery runs the leader alone and
    queues the other two again, which their own deliveries then run alone."""
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, hold_first_screen_s=60, **tiny_model) as worker:
        files = [png_upload(f"film{i}.png", seed=20 + i) for i in range(3)]
        study = study_submit(owner=clinician, files=files)
        ids = list(Prediction.objects.filter(image__study=study).values_list("id", flat=True))
        batch = until(
            lambda: len(rows := list(Prediction.objects.filter(id__in=ids, status="running"))) == 3
            and rows,
            timeout=120, interval=0.2, message="one batch to claim the three predictions",
        )  # fmt: skip
        assert len({p.claimed_by for p in batch}) == 1, [p.claimed_by for p in batch]
        member = next(p for p in batch if p.id != p.claimed_by)
        prediction_execute(prediction_id=member.id, batch_max=8)  # its own delivery, here
        assert fake_screener.calls == [] and _status(member.id).attempts == 1
        for child in _children(worker.pid):
            os.kill(child, signal.SIGKILL)
        finals = [_final(prediction_id) for prediction_id in ids]
        assert worker.poll() is None, log.read_text()[-3000:]
    for p in finals:
        assert p.status in (Prediction.Status.DONE, Prediction.Status.REJECTED), p.reason
        assert p.attempts == 2  # the killed batch, then alone
    _one_prediction_per_image(study)


def test_whole_worker_sigkilled_mid_prediction_comes_back_done(
    tmp_path, clinician, tiny_model, settings
):
    """SIGKILL the whole worker (parent and child: nothing can reject the message).

    Redis: the unacked message is redelivered after the transport's visibility_timeout (5 s
    here) to the next worker, with no sweep. The filesystem broker hands a message over
    when it is read, so there the periodic sweep (predictions_requeue_stale) requeues it.
    """
    env = {**tiny_model, "CELERY_VISIBILITY_TIMEOUT": "5"}
    log = tmp_path / "worker1.log"
    with worker_running(log_path=log, hold_first_screen_s=60, **env) as worker:
        study, prediction = _submitted_and_running(owner=clinician, seed=6)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    assert _status(prediction.id).status == Prediction.Status.RUNNING  # stranded
    mechanism = "visibility_timeout redelivery"
    if not broker_is_redis():
        mechanism = "sweep"
        call_command("predictions_sweep", "--older-than", "0")
    # On Redis the running worker restores unacked messages once they pass the timeout.
    with worker_running(log_path=tmp_path / "worker2.log", **env):
        done = _final(prediction.id, timeout=180)
    assert done.status == Prediction.Status.DONE, (mechanism, done)
    assert done.attempts == 2, mechanism
    _one_prediction_per_image(study)


# --------------------------------------------------------------------------- broker down


@contextmanager
def broker_pointed_at(url: str, settings, monkeypatch):
    """Point Django settings and the Celery app (conf, connection and producer pools) at
    `url`. Celery's conf prefers the CELERY_BROKER_URL environment variable (set in CI)."""
    saved = celery_app.conf.broker_url, settings.CELERY_BROKER_URL
    _pools_reset()
    with monkeypatch.context() as patch:
        if "CELERY_BROKER_URL" in os.environ:
            patch.setenv("CELERY_BROKER_URL", url)
        celery_app.conf.broker_url = url
        settings.CELERY_BROKER_URL = url
        assert celery_app.conf.broker_url == url
        try:
            yield
        finally:
            _pools_reset()
            celery_app.conf.broker_url, settings.CELERY_BROKER_URL = saved


def _pools_reset() -> None:
    """Drop the app's cached connection and producer pools (they hold the old broker URL)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_broker_down_at_submit_then_sweep_and_worker_finish_it(
    tmp_path, client, clinician, tiny_model, settings, monkeypatch
):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client.force_login(clinician)
    with broker_pointed_at(closed, settings, monkeypatch):
        response = client.post(reverse("screening:study_create"), {"files": [png_upload(seed=8)]})
        assert response.status_code == 302, response.content[:1000]
        api = api_client_for(clinician).post(
            "/api/v1/studies/", {"images": [png_upload(seed=9)]}, format="multipart"
        )
        assert api.status_code == 201, api.content
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["broker"].startswith("error")
    predictions = list(Prediction.objects.all())
    assert len(predictions) == 2
    assert all(p.status == "queued" and p.enqueued is None for p in predictions)
    # The broker is back: the sweep (as beat runs it) sends them, a real worker finishes them.
    call_command("predictions_sweep", "--older-than", "0")
    assert all(_status(p.id).enqueued for p in predictions)
    with worker_running(log_path=tmp_path / "worker.log", **tiny_model):
        finals = [_final(p.id) for p in predictions]
    for p in finals:
        assert p.status == Prediction.Status.DONE, p.reason
        assert p.attempts == 1
    for study in Study.objects.all():
        _one_prediction_per_image(study)


# --------------------------------------------------------------------------- model faults


def _broken_model_dir(tmp_path: Path, how: str) -> Path:
    source = Path(os.environ["CXR_WEIGHTS_DIR"]) / "tiny"
    root = tmp_path / f"weights-{how}"
    shutil.copytree(source, root / "tiny")
    weights = root / "tiny" / "model.keras"
    if how == "missing":
        weights.unlink()
    elif how == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    else:
        weights.write_bytes(b"this is not a keras model\n" * 100)
    return root


def test_truncated_model_fails_predictions_clearly_and_the_web_stays_up(
    tmp_path, client, clinician, tiny_model, monkeypatch
):
    """A real worker with a truncated model.keras: every prediction fails, readably."""
    root = _broken_model_dir(tmp_path, "truncated")
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(root))
    env = {**tiny_model, "CXR_WEIGHTS_DIR": str(root)}
    files_before = media_files()
    with worker_running(log_path=tmp_path / "worker.log", **env) as worker:
        study = study_submit(owner=clinician, files=[png_upload(seed=1), png_upload(seed=2)])
        finals = [_final(p.id, timeout=120) for p in Prediction.objects.filter(image__study=study)]
        assert worker.poll() is None
    for p in finals:
        assert p.status == Prediction.Status.FAILED
        assert p.reason.startswith("The model is unavailable: "), p.reason
        assert p.attempts == 1
    assert not [f for f in media_files() - files_before if "-heatmap." in f]
    _health_degraded_naming_the_model(client)
    # The web stays up.
    assert client.get(reverse("login")).status_code == 200
    client.force_login(clinician)
    for url in (
        reverse("screening:history"), reverse("screening:study_create"), f"/studies/{study.pk}/",
    ):  # fmt: skip
        assert client.get(url).status_code == 200, url
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert "The model is unavailable" in page


def _health_degraded_naming_the_model(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["model"].startswith("error") and "tiny" in body["model"], body


@pytest.mark.parametrize("how", ["missing", "truncated", "garbage"])
def test_broken_model_health_and_loader(how, tmp_path, client, tiny_model, monkeypatch):
    """Every way the file can be broken: /healthz says degraded naming the model, and the
    worker's loader raises ModelUnavailableError (remembered, never a crash)."""
    from mlcore.errors import ModelUnavailableError
    from screening import inference

    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(_broken_model_dir(tmp_path, how)))
    _health_degraded_naming_the_model(client)
    inference.screener_reset()
    try:
        with pytest.raises(ModelUnavailableError):
            inference.screener_get()
        with pytest.raises(ModelUnavailableError):  # remembered: no second load attempt
            inference.screener_get()
    finally:
        inference.screener_reset()
