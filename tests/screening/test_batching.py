"""Batched execution: a delivery screens waiting predictions with its own in one pass, each
prediction still ends final on its own, and claims keep deliveries from screening twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from mlcore.errors import CorruptImageError
from screening.models import Prediction, Study
from screening.services import prediction_execute, predictions_requeue_stale
from tests.support.images import png_upload

pytestmark = pytest.mark.django_db

OLD = timezone.now() - timedelta(hours=1)


def _queued(submit, count: int) -> list[Prediction]:
    """Submit `count` one-image studies (oldest first) and return their predictions."""
    return [
        Prediction.objects.get(image__study=submit(files=[png_upload(f"p{i}.png", seed=i)]))
        for i in range(count)
    ]


def _row(prediction: Prediction) -> Prediction:
    return Prediction.objects.get(id=prediction.id)


def test_a_delivery_screens_waiting_predictions_in_one_pass(submit, fake_screener):
    first, second, third = _queued(submit, 3)
    prediction_execute(prediction_id=second.id, batch_max=8)
    assert fake_screener.batches == [["p1.png", "p0.png", "p2.png"]]  # its own, then oldest
    for p in (first, second, third):
        row = _row(p)
        assert (row.status, row.attempts, row.claimed_by) == ("done", 1, second.id)
        assert row.heatmap and default_storage.exists(row.heatmap.name)
        assert Study.objects.get(images__predictions=p).status == Study.Status.DONE
    for p in (first, third):  # their own deliveries come later: nothing left to do
        prediction_execute(prediction_id=p.id, batch_max=8)
    assert len(fake_screener.calls) == 3 and _row(first).attempts == 1


def test_batch_max_caps_the_batch_and_one_is_one_at_a_time(submit, fake_screener):
    first, second, third = _queued(submit, 3)
    prediction_execute(prediction_id=third.id, batch_max=2)
    assert fake_screener.batches == [["p2.png", "p0.png"]]
    assert _row(second).status == Prediction.Status.QUEUED
    prediction_execute(prediction_id=second.id)  # batch_max=1: today's one-by-one
    assert fake_screener.batches[-1] == ["p1.png"]
    assert {_row(p).status for p in (first, second, third)} == {"done"}


def test_the_task_batches_up_to_the_setting_read_at_call_time(submit, fake_screener, settings):
    from screening.tasks import predict_image

    _, second, third = _queued(submit, 3)
    settings.CXR_WORKER_BATCH_MAX = 2
    predict_image.apply(args=[str(third.id)])
    settings.CXR_WORKER_BATCH_MAX = 1
    predict_image.apply(args=[str(second.id)])
    assert fake_screener.batches == [["p2.png", "p0.png"], ["p1.png"]]


def test_an_image_error_fails_only_its_own_prediction(submit, fake_screener):
    good, bad = _queued(submit, 2)
    real_screen = fake_screener.screen

    def screen(*, data, filename):
        if filename == "p1.png":
            raise CorruptImageError("The PNG file is truncated or corrupt.")
        return real_screen(data=data, filename=filename)

    fake_screener.screen = screen
    prediction_execute(prediction_id=good.id, batch_max=8)
    assert (_row(good).status, _row(bad).status) == ("done", "failed")
    assert _row(bad).reason == "The PNG file is truncated or corrupt."


def test_a_real_model_batch_with_an_unreadable_image_fails_only_that_one(submit, tiny_model):
    """The tiny model screens three stored images in one pass; the garbled one fails alone."""
    from mlcore.pipeline import Screener
    from screening.inference import screener_reset

    predictions = _queued(submit, 3)
    garbled = predictions[1].image.file.name
    with default_storage.open(garbled, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n garbled on disk")
    screener_reset(screener=Screener.load(name=tiny_model["CXR_MODEL_NAME"]))
    try:
        prediction_execute(prediction_id=predictions[0].id, batch_max=8)
    finally:
        screener_reset()
    rows = [_row(p) for p in predictions]
    assert rows[1].status == Prediction.Status.FAILED and rows[1].reason, rows[1].reason
    for row in (rows[0], rows[2]):
        assert row.status in (Prediction.Status.DONE, Prediction.Status.REJECTED), row.reason
        assert row.model_name == "tiny" and row.attempts == 1
        assert set(row.timings_ms) >= {"decode", "gate", "classify"}


def test_a_member_whose_file_cannot_be_read_goes_back_to_the_queue(
    submit, fake_screener, enqueued, django_capture_on_commit_callbacks
):
    leader, member = _queued(submit, 2)
    default_storage.delete(member.image.file.name)
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        prediction_execute(prediction_id=leader.id, batch_max=8)
    assert _row(leader).status == Prediction.Status.DONE
    row = _row(member)
    assert (row.status, row.claimed_by, row.attempts) == ("queued", None, 1)
    assert enqueued == [str(member.id)]  # its own delivery runs (and retries) it
    assert fake_screener.calls == ["p0.png"]


def test_an_error_in_the_pass_hands_the_batch_back(
    submit, fake_screener, enqueued, django_capture_on_commit_callbacks
):
    """The error is the leader's delivery's (retried or failed by the task); the others
    go back to the queue for their own deliveries."""
    leader, member = _queued(submit, 2)
    fake_screener.error = ValueError("tensor shape mismatch")
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValueError):
        prediction_execute(prediction_id=leader.id, batch_max=8)
    assert (_row(leader).status, _row(leader).claimed_by) == ("running", leader.id)
    assert (_row(member).status, _row(member).claimed_by) == ("queued", None)
    assert enqueued == [str(member.id)]


def test_a_delivery_leaves_a_prediction_claimed_by_a_live_batch_alone(submit, fake_screener):
    leader, member = _queued(submit, 2)
    Prediction.objects.filter(id__in=[leader.id, member.id]).update(
        status="running", claimed_by=leader.id, started=timezone.now(), attempts=1
    )
    prediction_execute(prediction_id=member.id, batch_max=8)
    assert fake_screener.calls == []
    assert (_row(member).status, _row(member).attempts) == ("running", 1)


def test_a_prediction_left_by_a_dead_batch_runs_again_once_the_claim_lapses(
    submit, fake_screener, settings
):
    settings.CXR_SWEEP_OLDER_THAN_S = 300
    leader, member = _queued(submit, 2)
    Prediction.objects.filter(id=member.id).update(
        status="running", claimed_by=leader.id, started=OLD, attempts=1
    )
    prediction_execute(prediction_id=member.id, batch_max=8)
    row = _row(member)
    assert (row.status, row.attempts, row.claimed_by) == ("done", 2, member.id)
    assert fake_screener.batches[0][0] == "p1.png"


def test_a_redelivered_leader_runs_alone_and_queues_what_its_dead_batch_left(
    submit, fake_screener, enqueued, django_capture_on_commit_callbacks
):
    """The leader's worker was killed mid-batch (an image may have killed it): its message
    comes back and runs the leader alone; what the batch left goes back to the queue, and
    each runs alone on its own delivery, so one bad image takes no batch down twice."""
    leader, member, finished = _queued(submit, 3)
    Prediction.objects.filter(id__in=[leader.id, member.id, finished.id]).update(
        status="running", claimed_by=leader.id, started=timezone.now(), attempts=1
    )
    Prediction.objects.filter(id=finished.id).update(status="done")
    waiting = Prediction.objects.get(image__study=submit(files=[png_upload("w.png")]))
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        prediction_execute(prediction_id=leader.id, batch_max=8)
    assert fake_screener.batches == [["p0.png"]]
    assert (_row(member).status, _row(member).claimed_by, _row(member).attempts) == (
        "queued", None, 1,
    )  # fmt: skip
    assert enqueued == [str(member.id)]
    prediction_execute(prediction_id=member.id, batch_max=8)  # its own delivery: alone too
    prediction_execute(prediction_id=waiting.id, batch_max=8)
    assert fake_screener.batches == [["p0.png"], ["p1.png"], ["w.png"]]
    assert [(_row(p).status, _row(p).attempts) for p in (leader, member, finished, waiting)] == [
        ("done", 2), ("done", 2), ("done", 1), ("done", 1),
    ]  # fmt: skip


def test_a_prediction_that_ran_before_is_never_taken_into_a_batch(submit, fake_screener):
    handed_back, fresh, other = _queued(submit, 3)
    Prediction.objects.filter(id=handed_back.id).update(attempts=1)
    prediction_execute(prediction_id=fresh.id, batch_max=8)
    assert fake_screener.batches == [["p1.png", "p2.png"]]
    assert (_row(handed_back).status, _row(handed_back).attempts) == ("queued", 1)
    assert _row(other).status == Prediction.Status.DONE


def test_the_sweep_requeues_a_dead_batch_and_clears_its_claim(submit, enqueued):
    leader, member = _queued(submit, 2)
    Prediction.objects.filter(id__in=[leader.id, member.id]).update(
        status="running", claimed_by=leader.id, started=OLD, created=OLD, attempts=1
    )
    assert predictions_requeue_stale(older_than=timedelta(minutes=5)) == 2
    assert {(_row(p).status, _row(p).claimed_by) for p in (leader, member)} == {("queued", None)}


def test_a_batch_stores_each_outcome_in_a_few_statements(submit, fake_screener):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    predictions = _queued(submit, 4)
    with CaptureQueriesContext(connection) as queries:
        prediction_execute(prediction_id=predictions[0].id, batch_max=8)
    assert {_row(p).status for p in predictions} == {"done"}
    # Claim: 3 reads and an UPDATE each. The models in force and the point in force: one read
    # each (tests read the models afresh; a worker remembers them CXR_DEPLOYMENT_CACHE_S).
    # Each outcome: lock, one UPDATE, the study's lock, one read of what it derives, its
    # UPDATE (+ savepoints here, BEGIN/COMMIT in a worker).
    assert len(queries.captured_queries) <= 3 + 4 + 2 + 4 * 7 + 3
