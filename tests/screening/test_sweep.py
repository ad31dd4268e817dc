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
    assert entry["task"] == predictions_sweep.name
    assert entry["schedule"] == settings.CXR_SWEEP_INTERVAL_S


def test_never_sent_goes_again_after_the_short_wait(
    submit, enqueued, django_capture_on_commit_callbacks
):
    """The broker was down at submit time: sent again after unsent_older_than, not 5 min."""
    unsent, sent = (Prediction.objects.get(image__study=submit()) for _ in range(2))
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    _set(unsent, created=a_minute_ago, enqueued=None)
    _set(sent, created=a_minute_ago, enqueued=a_minute_ago)
    with django_capture_on_commit_callbacks(execute=True):
        count = predictions_requeue_stale(
            older_than=timedelta(minutes=5), unsent_older_than=timedelta(seconds=15)
        )
    assert count == 1 and enqueued == [str(unsent.id)]


def test_broker_lost_its_messages_every_queued_one_goes_again(
    submit, enqueued, django_capture_on_commit_callbacks
):
    sent = Prediction.objects.get(image__study=submit())
    _set(sent, enqueued=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        count = predictions_requeue_stale(
            older_than=timedelta(minutes=5), sent_older_than=timedelta(0)
        )
    assert count == 1 and enqueued == [str(sent.id)]


def test_broker_mark_says_lost_once_per_empty_redis(settings):
    """A Redis that loses its data loses the mark: the next sweep sends every queued one."""
    from portal.celery import app
    from screening.services.queueing import BROKER_MARK_KEY, broker_messages_lost

    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        assert broker_messages_lost() is False  # a folder broker keeps its messages
        return
    key = BROKER_MARK_KEY.format(queue=app.conf.task_default_queue)
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(key)
    try:
        assert broker_messages_lost() is True
        assert broker_messages_lost() is False
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.client.delete(key)
