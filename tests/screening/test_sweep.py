"""The sweep: predictions stuck in queued or running are sent again, or given up on."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from screening.models import Prediction, Study
from screening.services import predictions_requeue_stale

pytestmark = pytest.mark.django_db

OLD = timezone.now() - timedelta(hours=1)


@pytest.fixture
def prediction(submit):
    return Prediction.objects.get(image__study=submit())


def _set(prediction: Prediction, **fields) -> None:
    Prediction.objects.filter(id=prediction.id).update(**fields)


def test_requeues_never_enqueued(prediction, enqueued, django_capture_on_commit_callbacks):
    _set(prediction, created=OLD, enqueued=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_requeue_stale(older_than=timedelta(minutes=5)) == 1
    assert enqueued == [str(prediction.id)]
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.QUEUED and prediction.enqueued


def test_requeues_lost_message_and_stuck_running(submit, enqueued,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    lost, running = (Prediction.objects.get(image__study=submit()) for _ in range(2))
    _set(lost, created=OLD, enqueued=OLD)
    _set(running, created=OLD, status="running", started=OLD, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_requeue_stale(older_than=timedelta(minutes=5)) == 2
    assert sorted(enqueued) == sorted([str(lost.id), str(running.id)])
    running.refresh_from_db()
    assert running.status == Prediction.Status.QUEUED and running.attempts == 1


def test_leaves_fresh_and_final_alone(submit, enqueued, django_capture_on_commit_callbacks):
    fresh, recent_running, done = (Prediction.objects.get(image__study=submit()) for _ in range(3))
    _set(fresh, enqueued=timezone.now())
    _set(recent_running, status="running", started=timezone.now(), created=OLD)
    _set(done, status="done", created=OLD, started=OLD)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_requeue_stale(older_than=timedelta(minutes=5)) == 0
    assert enqueued == []


def test_gives_up_after_max_attempts(prediction, enqueued, settings):
    settings.CXR_PREDICTION_MAX_ATTEMPTS = 3
    _set(prediction, status="running", started=OLD, created=OLD, attempts=3)
    assert predictions_requeue_stale(older_than=timedelta(minutes=5)) == 0
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert prediction.reason == "Gave up after 3 attempts."
    assert Study.objects.get(images__predictions=prediction).status == Study.Status.DONE


def test_broker_still_down_leaves_it_queued(prediction, monkeypatch,
                                            django_capture_on_commit_callbacks):  # fmt: skip
    from kombu.exceptions import OperationalError

    from screening import tasks

    def down(*args):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.predict_image, "delay", down)
    _set(prediction, created=OLD)
    with django_capture_on_commit_callbacks(execute=True):
        predictions_requeue_stale(older_than=timedelta(minutes=5))
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.QUEUED and prediction.enqueued is None


def test_management_command(prediction, enqueued):
    _set(prediction, created=OLD)
    out = StringIO()
    call_command("predictions_sweep", "--older-than", "60", stdout=out)
    assert "Requeued 1 prediction(s)." in out.getvalue()


def test_sweep_task_and_beat_schedule(prediction, enqueued, settings):
    from portal.celery import app
    from screening.tasks import predictions_sweep

    settings.CXR_SWEEP_OLDER_THAN_S = 60
    _set(prediction, created=OLD)
    assert predictions_sweep() == 1
    entry = app.conf.beat_schedule["predictions-sweep"]
    assert entry["task"] == predictions_sweep.name and entry["schedule"] == 60.0
