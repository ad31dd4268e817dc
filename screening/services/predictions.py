"""A prediction's life: queued -> running -> done | failed | rejected, and re-runs.

`prediction_status_set` is the one place a prediction's status changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from mlcore.errors import ImageError, ModelUnavailableError
from screening.models import Image, Prediction, Study
from screening.selectors import model_name_configured, model_version_configured
from screening.services.audit import RequestMeta, audit_record
from screening.services.queueing import (
    prediction_enqueue_on_commit,
    predictions_enqueue_on_commit,
)
from screening.services.studies import study_status_refresh
from screening.storage import storage_delete_quietly

REASON_MAX_LENGTH = 2000


def prediction_status_set(*, prediction: Prediction, status: str, reason: str = "") -> Prediction:
    """Move a locked prediction to `status` and stamp what goes with it.

    Queued clears the enqueue time (the sweep sends it again), running counts an attempt,
    a final status records the reason and refreshes the study.
    """
    prediction.status = status
    if status == Prediction.Status.QUEUED:
        prediction.enqueued = None
        fields = ["status", "enqueued"]
    elif status == Prediction.Status.RUNNING:
        prediction.started = timezone.now()
        prediction.attempts += 1
        fields = ["status", "started", "attempts"]
    else:
        prediction.reason = reason[:REASON_MAX_LENGTH]
        prediction.finished = timezone.now()
        fields = ["status", "reason", "finished"]
    prediction.save(update_fields=fields)
    if prediction.is_final:
        study_status_refresh(study=Study.objects.get(images__predictions=prediction))
    return prediction


def prediction_fail(*, prediction_id: Any, reason: str) -> Prediction | None:
    """Mark the prediction failed with `reason` unless it is already final."""
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(id=prediction_id).first()
        if prediction is None or prediction.is_final:
            return prediction
        prediction_status_set(prediction=prediction, status=Prediction.Status.FAILED, reason=reason)
    return prediction


def _attempts_exhausted(*, prediction: Prediction) -> bool:
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


def prediction_execute(*, prediction_id: Any) -> Prediction | None:
    """Screen the prediction's image and store the outcome; a final prediction is left alone.

    Transient errors (database, storage) propagate so the task can retry; image and model
    problems end the prediction as failed with a readable reason.
    """
    prediction = _prediction_start(prediction_id=prediction_id)
    if prediction is None or prediction.is_final:
        return prediction
    try:
        result = _image_screen(image=prediction.image)
    except ModelUnavailableError as exc:
        return prediction_fail(
            prediction_id=prediction.id, reason=f"The model is unavailable: {exc}"
        )
    except ImageError as exc:
        return prediction_fail(prediction_id=prediction.id, reason=exc.message)
    return _prediction_outcome_store(prediction=prediction, result=result)


def _prediction_start(*, prediction_id: Any) -> Prediction | None:
    """Lock the prediction and mark it running, unless it is final or out of attempts."""
    with transaction.atomic():
        prediction = (
            Prediction.objects.select_for_update().select_related("image").filter(id=prediction_id)
        ).first()
        if prediction is None or prediction.is_final:
            return prediction
        if not _attempts_exhausted(prediction=prediction):
            prediction_status_set(prediction=prediction, status=Prediction.Status.RUNNING)
    return prediction


def _image_screen(*, image: Image) -> Any:
    """Run the process's model on the stored image; return its ScreenResult."""
    from screening.inference import screener_get

    screener = screener_get()
    with image.file.open("rb") as handle:
        data = handle.read()
    return screener.screen(data=data, filename=image.original_name)


def _prediction_outcome_store(*, prediction: Prediction, result: Any) -> Prediction:
    """Store the heatmap and the result, unless another delivery finished first."""
    heatmap_name = ""
    if result.accepted and result.overlay_png:
        heatmap_name = default_storage.save(
            prediction.heatmap.field.generate_filename(prediction, "heatmap.png"),
            ContentFile(result.overlay_png),
        )
    with transaction.atomic():
        locked = Prediction.objects.select_for_update().get(id=prediction.id)
        if locked.is_final:  # another delivery of the same task finished first
            if heatmap_name:
                storage_delete_quietly(name=heatmap_name)
            return locked
        locked.model_name = str(result.model_name or locked.model_name)[:64]
        locked.model_version = str(result.model_version or locked.model_version)[:64]
        locked.timings_ms = {k: round(float(v), 2) for k, v in (result.timings_ms or {}).items()}
        fields = ["model_name", "model_version", "timings_ms"]
        if not result.accepted:
            locked.save(update_fields=fields)
            reason = str(result.reason or "The image was refused by the input gate.")
            return prediction_status_set(
                prediction=locked, status=Prediction.Status.REJECTED, reason=reason
            )
        locked.label = str(result.label or "")
        locked.probabilities = {k: float(v) for k, v in (result.probabilities or {}).items()}
        locked.heatmap.name = heatmap_name
        locked.save(update_fields=[*fields, "label", "probabilities", "heatmap"])
        return prediction_status_set(prediction=locked, status=Prediction.Status.DONE)


def predictions_requeue_stale(*, older_than: timedelta) -> int:
    """Requeue predictions stuck in queued or running for longer than `older_than`.

    A prediction that has already used its attempts fails with a reason instead.
    Return how many were requeued.
    """
    cutoff = timezone.now() - older_than
    stale = models.Q(
        status=Prediction.Status.QUEUED, enqueued__isnull=True, created__lt=cutoff
    ) | models.Q(status=Prediction.Status.QUEUED, enqueued__lt=cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__lt=cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__isnull=True, created__lt=cutoff)
    requeued: list[Any] = []
    for prediction_id in Prediction.objects.filter(stale).values_list("id", flat=True):
        with transaction.atomic():
            prediction = (
                Prediction.objects.select_for_update().filter(stale, id=prediction_id).first()
            )
            if prediction is None or _attempts_exhausted(prediction=prediction):
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
