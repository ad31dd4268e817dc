"""Send predictions to the broker; a broker outage never fails the caller."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from screening.models import Prediction

logger = logging.getLogger(__name__)

# Looked up by name in the Celery registry, so services never import screening.tasks.
PREDICT_IMAGE_TASK = "screening.predict_image"
# A key kept in a Redis broker: a Redis that comes back without its data comes back without it.
BROKER_MARK_KEY = "cxrscreen:broker-mark:{queue}"


def prediction_enqueue(*, prediction_id: Any) -> bool:
    """Send the prediction to the broker; return False (and log) when the broker is down."""
    from celery import current_app
    from kombu.exceptions import OperationalError as KombuOperationalError

    try:
        current_app.tasks[PREDICT_IMAGE_TASK].delay(str(prediction_id))
    except (KombuOperationalError, ConnectionError, OSError, TimeoutError) as exc:
        # The submission stands; the sweep sends it again once the broker is back.
        logger.warning("Could not enqueue prediction %s: %s", prediction_id, exc)
        return False
    Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(
        enqueued=timezone.now()
    )
    return True


def predictions_enqueue(*, prediction_ids: Sequence[Any]) -> int:
    """Enqueue each prediction; stop at the first broker failure (each costs a timeout)."""
    sent = 0
    for prediction_id in prediction_ids:
        if not prediction_enqueue(prediction_id=prediction_id):
            break
        sent += 1
    return sent


def prediction_enqueue_on_commit(*, prediction_id: Any) -> None:
    """Enqueue once the current transaction commits (the worker must see the row)."""
    predictions_enqueue_on_commit(prediction_ids=[prediction_id])


def predictions_enqueue_on_commit(*, prediction_ids: Sequence[Any]) -> None:
    """Enqueue the predictions once the current transaction commits."""
    ids = list(prediction_ids)
    if ids:
        transaction.on_commit(lambda: predictions_enqueue(prediction_ids=ids))


def broker_messages_lost() -> bool:
    """Say whether the broker lost its messages since the last call (Redis came back empty).

    Only a Redis broker can: the mark key is set when missing, so the first call on a new
    Redis says True too, and sending a prediction twice is harmless. A broker that cannot be
    reached says False: there is nothing to send to yet.
    """
    from celery import current_app

    conf = current_app.conf
    if not str(conf.broker_url).startswith(("redis://", "rediss://")):
        return False
    key = BROKER_MARK_KEY.format(queue=conf.task_default_queue)
    try:
        with current_app.connection_for_write() as connection:
            return bool(connection.default_channel.client.set(key, "1", nx=True))
    except Exception as exc:
        logger.warning("Could not read the broker mark: %s", exc)
        return False
