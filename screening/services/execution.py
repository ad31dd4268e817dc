"""Run predictions: claim a batch, screen it in one classifier pass, store each outcome alone.

A delivery of predict_image(L) claims L and, when `batch_max` > 1, the oldest waiting
predictions that have never run, marking each running with `claimed_by` = L. Their own
deliveries, when they come, leave them alone while that batch is live: for as long as the
sweep would leave a running prediction alone (CXR_SWEEP_OLDER_THAN_S). A prediction that has
run before runs alone: a redelivery of L (its worker was killed, or the task retries) runs L
by itself and sends what its earlier batch left running back to the queue, where each waits
for its own delivery. So an image that kills its worker takes the others of one batch down
once, never again. Nothing depends on a batch finishing: each prediction ends final on its
own, and what a dead batch leaves running is run again by L's redelivery, by its own
delivery once the claim lapses, or by the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mlcore.drift import gate_distance_of
from mlcore.errors import ImageError, ModelUnavailableError
from mlcore.operating_point import OperatingPointError
from screening.atomic_files import files_atomic
from screening.models import Prediction
from screening.selectors import operating_point_in_force
from screening.selectors_deployment import deployment_in_force
from screening.services.predictions import (
    prediction_attempts_exhausted,
    prediction_fail,
    prediction_status_set,
)
from screening.services.queueing import predictions_enqueue_on_commit
from screening.services.shadow import shadow_screen_quietly
from screening.storage import heatmap_values_name, storage_delete_quietly, storage_save

logger = logging.getLogger(__name__)


def prediction_execute(*, prediction_id: Any, batch_max: int = 1) -> Prediction | None:
    """Screen the prediction, with up to `batch_max - 1` waiting ones in the same pass.

    A final prediction is left alone. Image and model problems end a prediction as failed
    with a readable reason, that prediction only. Other errors (database, storage) propagate
    so the task can retry; the rest of the batch goes back to the queue first.
    """
    leader, claimed = _batch_claim(prediction_id=prediction_id, batch_max=batch_max)
    if leader is None or not claimed:
        return leader
    try:
        _batch_run(leader_id=leader.id, predictions=claimed)
    except Exception:
        _members_hand_back(leader_id=leader.id)
        raise
    return Prediction.objects.filter(id=leader.id).first()


def _locked(*, skip_locked: bool = False) -> Any:
    """Predictions with their images, locked (only the prediction rows) until commit."""
    return Prediction.objects.select_for_update(
        skip_locked=skip_locked, of=("self",)
    ).select_related("image")


def _batch_claim(
    *, prediction_id: Any, batch_max: int
) -> tuple[Prediction | None, list[Prediction]]:
    """Lock the leader and claim it, queue again what its earlier batch left running, and,
    unless the leader runs again, claim the oldest waiting predictions that never ran.

    Return the leader and the predictions to run now (marked running, claimed by it). Only
    the leader's row is waited for: rows another worker holds are skipped, so two workers
    never wait on each other.
    """
    with transaction.atomic():
        leader = _locked().filter(id=prediction_id).first()
        if leader is None:
            return None, []
        ran_before = leader.attempts > 0
        claimed = [leader] if _prediction_claim(prediction=leader, leader_id=leader.id) else []
        _members_requeue(leader_id=leader.id)
        if batch_max > 1 and not (claimed and ran_before):
            waiting = (
                _locked(skip_locked=True)
                .filter(status=Prediction.Status.QUEUED, attempts=0)
                .exclude(id=leader.id)
                .order_by("created")[: batch_max - len(claimed)]
            )
            claimed += [p for p in waiting if _prediction_claim(prediction=p, leader_id=leader.id)]
    return leader, claimed


def _prediction_claim(*, prediction: Prediction, leader_id: Any) -> bool:
    """Mark a locked prediction running in the leader's batch; say whether it is to run now."""
    if prediction.is_final or _claimed_by_live_batch(prediction=prediction, leader_id=leader_id):
        return False
    if prediction_attempts_exhausted(prediction=prediction):
        return False
    prediction_status_set(
        prediction=prediction, status=Prediction.Status.RUNNING, claimed_by=leader_id
    )
    return True


def _claimed_by_live_batch(*, prediction: Prediction, leader_id: Any) -> bool:
    """Whether another delivery's batch runs the prediction and may still be alive.

    A batch counts as alive for as long as the sweep would leave its predictions running;
    after that it is presumed dead and the prediction may run again.
    """
    if prediction.status != Prediction.Status.RUNNING:
        return False
    if prediction.claimed_by is None or prediction.claimed_by == leader_id:
        return False
    patience = timedelta(seconds=settings.CXR_SWEEP_OLDER_THAN_S)
    return prediction.started is not None and prediction.started > timezone.now() - patience


def _batch_run(*, leader_id: Any, predictions: Sequence[Prediction]) -> None:
    """Screen the claimed predictions in one pass and store each outcome on its own; then,
    while a candidate is set, screen the same images with it in shadow."""
    from screening.inference import screener_get

    # Read per batch: a promotion, rollback or change of point holds from the next batch on.
    deployment = deployment_in_force()
    point = operating_point_in_force(model_name=deployment.in_force).screen_argument()
    try:
        screener = screener_get(name=deployment.in_force)
        readable, items = _images_read(leader_id=leader_id, predictions=predictions)
        results = screener.screen_many(items=items, operating_point=point) if items else []
    except (ModelUnavailableError, OperatingPointError) as exc:
        for prediction in predictions:
            prediction_fail(prediction_id=prediction.id, reason=f"The model is unavailable: {exc}")
        return
    for prediction, result in zip(readable, results, strict=True):
        if isinstance(result, ImageError):
            prediction_fail(prediction_id=prediction.id, reason=result.message)
        else:
            _prediction_outcome_store(prediction=prediction, result=result)
    if deployment.shadowing:
        # After the outcomes are stored: the candidate never delays a clinician's result.
        shadow_screen_quietly(
            candidate=deployment.candidate,
            images=[p.image for p in readable],
            items=items,
        )


def _images_read(
    *, leader_id: Any, predictions: Sequence[Prediction]
) -> tuple[list[Prediction], list[tuple[bytes, str]]]:
    """Read each claimed image; return the predictions read and (data, filename) for each.

    The leader's read error propagates (its task retries it, as for a batch of one); a
    member that cannot be read now goes back to the queue for its own delivery, so that one
    bad file never fails the leader.
    """
    readable: list[Prediction] = []
    items: list[tuple[bytes, str]] = []
    for prediction in predictions:
        try:
            with prediction.image.file.open("rb") as handle:
                items.append((handle.read(), prediction.image.original_name))
        except Exception:
            if prediction.id == leader_id:
                raise
            logger.warning(
                "Could not read the image of prediction %s", prediction.id, exc_info=True
            )
            _members_hand_back(leader_id=leader_id, only=[prediction.id])
            continue
        readable.append(prediction)
    return readable, items


def _members_requeue(*, leader_id: Any, only: Sequence[Any] | None = None) -> None:
    """Queue again the predictions the leader's batch still runs (all but the leader, or
    those in `only`) and send them to the broker once the transaction commits."""
    members = (
        _locked(skip_locked=True)
        .filter(claimed_by=leader_id, status=Prediction.Status.RUNNING)
        .exclude(id=leader_id)
    )
    if only is not None:
        members = members.filter(id__in=only)
    ids = []
    for member in members:
        prediction_status_set(prediction=member, status=Prediction.Status.QUEUED)
        ids.append(member.id)
    predictions_enqueue_on_commit(prediction_ids=ids)


def _members_hand_back(*, leader_id: Any, only: Sequence[Any] | None = None) -> None:
    """Queue again what the leader's batch still runs, as `_members_requeue`; log, never raise."""
    try:
        with transaction.atomic():
            _members_requeue(leader_id=leader_id, only=only)
    except Exception:  # the database may be what is down: the leader's retry or the sweep
        logger.exception("Could not hand back the batch of prediction %s", leader_id)


def heatmap_values_save(*, heatmap_name: str, heatmap: Any) -> None:
    """Keep the heatmap's values beside its overlay (the PACS's Parametric Map uses them)."""
    from mlcore.heatmapfile import heatmap_encode

    if heatmap is None:
        return
    name = heatmap_values_name(heatmap_name=heatmap_name)
    storage_save(name=name, data=heatmap_encode(heatmap=heatmap))


def _prediction_outcome_store(*, prediction: Prediction, result: Any) -> Prediction:
    """Store the heatmap and the result, unless another delivery finished first."""
    stored: list[str] = []
    # A rollback (the database went away) leaves no heatmap without its prediction.
    with files_atomic(names=stored):
        if result.accepted and result.overlay_jpeg:
            stored.append(
                storage_save(
                    name=prediction.heatmap.field.generate_filename(prediction, "heatmap.jpg"),
                    data=result.overlay_jpeg,
                )
            )
            stored.append(heatmap_values_name(heatmap_name=stored[0]))
            heatmap_values_save(heatmap_name=stored[0], heatmap=getattr(result, "heatmap", None))
        return _prediction_result_write(
            prediction=prediction, result=result, heatmap_name=stored[0] if stored else ""
        )


def _prediction_result_write(
    *, prediction: Prediction, result: Any, heatmap_name: str
) -> Prediction:
    """Write the result to the locked prediction unless it is final already (in a transaction)."""
    locked = _locked().get(id=prediction.id)
    if locked.is_final:  # another delivery of the same prediction finished first
        if heatmap_name:
            storage_delete_quietly(name=heatmap_name)
            storage_delete_quietly(name=heatmap_values_name(heatmap_name=heatmap_name))
        return locked
    locked.model_name = str(result.model_name or locked.model_name)[:64]
    locked.model_version = str(result.model_version or locked.model_version)[:64]
    locked.timings_ms = {k: round(float(v), 2) for k, v in (result.timings_ms or {}).items()}
    locked.gate_distance = gate_distance_of(scores=getattr(result, "gate_scores", None))
    fields = ["model_name", "model_version", "timings_ms", "gate_distance"]
    if not result.accepted:
        reason = str(result.reason or "The image was refused by the input gate.")
        return prediction_status_set(
            prediction=locked,
            status=Prediction.Status.REJECTED,
            reason=reason,
            also_saved=fields,
        )
    locked.label = str(result.label or "")
    locked.probabilities = {k: float(v) for k, v in (result.probabilities or {}).items()}
    locked.heatmap.name = heatmap_name
    _decision_copy(prediction=locked, result=result)
    return prediction_status_set(
        prediction=locked,
        status=Prediction.Status.DONE,
        also_saved=[*fields, "label", "probabilities", "heatmap", *DECISION_FIELDS],
    )


DECISION_FIELDS = ("decision", "operating_point", "thresholds", "evidence_in_lungs")


def _decision_copy(*, prediction: Prediction, result: Any) -> None:
    """Copy the screening decision, the point it was made at and the lung evidence."""
    prediction.decision = str(result.decision or "")
    prediction.operating_point = str(result.operating_point or "")[:32]
    thresholds = result.thresholds
    prediction.thresholds = {k: float(v) for k, v in thresholds.items()} if thresholds else None
    evidence = result.evidence_in_lungs
    prediction.evidence_in_lungs = None if evidence is None else float(evidence)
