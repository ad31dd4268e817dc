"""A prediction's life: queued -> running -> done | failed | rejected, and re-runs.

`prediction_status_set` is the one place a prediction's status changes; running one is in
`execution`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from screening.models import Image, Prediction, Study
from screening.selectors import model_name_configured, model_version_configured
from screening.services.audit import RequestMeta, audit_record
from screening.services.queueing import (
    prediction_enqueue_on_commit,
    predictions_enqueue_on_commit,
)
from screening.services.studies import study_status_refresh

REASON_MAX_LENGTH = 2000


def prediction_status_set(
    *,
    prediction: Prediction,
    status: str,
    reason: str = "",
    claimed_by: Any = None,
    also_saved: Sequence[str] = (),
) -> Prediction:
    """Move a locked prediction to `status` and stamp what goes with it.

    Queued clears the enqueue time (the sweep sends it again) and any claim, running counts
    an attempt and records whose batch runs it, a final status records the reason and
    refreshes the study. Fields named in `also_saved` (a result) go in the same UPDATE.
    """
    prediction.status = status
    if status == Prediction.Status.QUEUED:
        prediction.enqueued = None
        prediction.claimed_by = None
        fields = ["status", "enqueued", "claimed_by"]
    elif status == Prediction.Status.RUNNING:
        prediction.started = timezone.now()
        prediction.attempts += 1
        prediction.claimed_by = claimed_by
        fields = ["status", "started", "attempts", "claimed_by"]
    else:
        prediction.reason = reason[:REASON_MAX_LENGTH]
        prediction.finished = timezone.now()
        fields = ["status", "reason", "finished"]
    prediction.save(update_fields=[*fields, *also_saved])
    if prediction.is_final:
        study_status_refresh(study=Study(pk=_study_id_of(prediction=prediction)))
    return prediction


def _study_id_of(*, prediction: Prediction) -> Any:
    """Return the prediction's study id: from its image when loaded, else in one query."""
    if Prediction.image.is_cached(prediction):
        return prediction.image.study_id
    return Image.objects.filter(id=prediction.image_id).values_list("study_id", flat=True).get()


def prediction_fail(*, prediction_id: Any, reason: str) -> Prediction | None:
    """Mark the prediction failed with `reason` unless it is already final."""
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(id=prediction_id).first()
        if prediction is None or prediction.is_final:
            return prediction
        prediction_status_set(prediction=prediction, status=Prediction.Status.FAILED, reason=reason)
    return prediction


def prediction_attempts_exhausted(*, prediction: Prediction) -> bool:
    """Fail a locked prediction that has used all its attempts; say whether it did."""
    if prediction.attempts < settings.CXR_PREDICTION_MAX_ATTEMPTS:
        return False
    # E.g. an image that kills the worker each time it is redelivered.
    prediction_status_set(
        prediction=prediction,
        status=Prediction.Status.FAILED,
        reason=f"Gave up after {prediction.attempts} attempts.",
    )
    return True


def predictions_requeue_stale(
    *,
    older_than: timedelta,
    unsent_older_than: timedelta | None = None,
    sent_older_than: timedelta | None = None,
) -> int:
    """Requeue predictions stuck in queued or running; return how many were requeued.

    Running ones count as stuck after `older_than`; queued ones whose message never reached
    the broker after `unsent_older_than`, and queued ones whose message did (it may have been
    lost) after `sent_older_than`, both `older_than` unless given. A prediction that has
    already used its attempts fails with a reason instead.
    """
    now = timezone.now()
    cutoff = now - older_than
    unsent_cutoff = now - (older_than if unsent_older_than is None else unsent_older_than)
    sent_cutoff = now - (older_than if sent_older_than is None else sent_older_than)
    stale = models.Q(
        status=Prediction.Status.QUEUED, enqueued__isnull=True, created__lt=unsent_cutoff
    ) | models.Q(status=Prediction.Status.QUEUED, enqueued__lt=sent_cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__lt=cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__isnull=True, created__lt=cutoff)
    requeued: list[Any] = []
    for prediction_id in Prediction.objects.filter(stale).values_list("id", flat=True):
        with transaction.atomic():
            prediction = (
                Prediction.objects.select_for_update().filter(stale, id=prediction_id).first()
            )
            if prediction is None or prediction_attempts_exhausted(prediction=prediction):
                continue  # finished or picked up since we listed it, or given up
            prediction_status_set(prediction=prediction, status=Prediction.Status.QUEUED)
            requeued.append(prediction.id)
    predictions_enqueue_on_commit(prediction_ids=requeued)
    return len(requeued)


def prediction_rerun(*, image: Image, actor: Any, meta: RequestMeta | None = None) -> Prediction:
    """Queue a new current prediction with the configured model; the old one stays on record."""
    model_name, model_version = model_name_configured(), model_version_configured()
    with transaction.atomic():
        previous = list(Prediction.objects.select_for_update().filter(image=image, is_current=True))
        Prediction.objects.filter(id__in=[p.id for p in previous]).update(is_current=False)
        prediction = Prediction.objects.create(
            image=image, model_name=model_name, model_version=model_version
        )
        study_status_refresh(study=Study.objects.get(id=image.study_id))
        audit_record(
            actor=actor,
            action="prediction.rerun",
            obj=prediction,
            meta=meta,
            detail={"image": str(image.id), "previous": [str(p.id) for p in previous]},
        )
        prediction_enqueue_on_commit(prediction_id=prediction.id)
    return prediction
