"""Celery tasks for screening: thin wrappers around services."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone

from screening.services import prediction_execute, prediction_fail, predictions_requeue_stale
from screening.services.media import media_orphans_sweep
from screening.services.queueing import broker_messages_lost

logger = logging.getLogger(__name__)

# Database hiccups and storage I/O (disk, S3 over the network) are worth retrying.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError, InterfaceError, OSError, TimeoutError,
)  # fmt: skip
try:  # S3 through django-storages (production requirements only)
    from botocore.exceptions import BotoCoreError, ClientError

    TRANSIENT_ERRORS += (BotoCoreError, ClientError)
except ImportError:  # pragma: no cover
    pass


class PredictionTask(Task):
    """Fails the prediction with a readable reason once retries are exhausted."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        prediction_id = args[0] if args else kwargs.get("prediction_id")
        if prediction_id is None:
            return
        tries = self.request.retries + 1
        after = f" after {tries} tries" if tries > 1 else ""
        try:
            prediction_fail(
                prediction_id=prediction_id,
                reason=f"Screening failed{after}: {type(exc).__name__}: {exc}"[:500],
            )
        except Exception:  # the database may be what is down; the sweep will retry later
            logger.exception("Could not mark prediction %s failed", prediction_id)


@shared_task(
    bind=True,
    base=PredictionTask,
    name="screening.predict_image",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    # Long enough to ride out a database restart or a full disk (about a minute and a half);
    # short waits, so a prediction goes on soon after the fault ends.
    retry_backoff=2,
    retry_backoff_max=15,
    retry_jitter=True,
    max_retries=10,
    ignore_result=True,
)
def predict_image(self, prediction_id: str) -> None:
    """Screen the image, with waiting ones in the same pass; safe to run twice."""
    prediction_execute(prediction_id=prediction_id, batch_max=settings.CXR_WORKER_BATCH_MAX)


@shared_task(name="screening.predictions_sweep", ignore_result=True)
def predictions_sweep() -> int:
    """Requeue predictions stuck in queued or running (celery beat, CXR_SWEEP_INTERVAL_S).

    Queued ones never sent go again after CXR_SWEEP_UNSENT_AFTER_S; all queued ones go again
    at once when the broker lost its messages (a Redis restarted without its data).
    """
    return predictions_requeue_stale(
        older_than=timedelta(seconds=settings.CXR_SWEEP_OLDER_THAN_S),
        unsent_older_than=timedelta(seconds=settings.CXR_SWEEP_UNSENT_AFTER_S),
        sent_older_than=timedelta(0) if broker_messages_lost() else None,
    )


@shared_task(name="screening.media_orphans_sweep", ignore_result=True)
def media_files_sweep() -> int:
    """Delete stored files no row names, older than CXR_ORPHAN_AFTER_S, in the folders of
    studies active within CXR_MEDIA_SWEEP_LOOKBACK_S (beat, hourly)."""
    lookback = settings.CXR_MEDIA_SWEEP_LOOKBACK_S
    return media_orphans_sweep(
        older_than=timedelta(seconds=settings.CXR_ORPHAN_AFTER_S),
        since=timezone.now() - timedelta(seconds=lookback) if lookback > 0 else None,
    )
