"""Changes of the models in force: register or clear a candidate, promote it, roll back.

Each change appends a ModelDeployment row (the newest is the state, older ones the history)
and an audit event; workers read the state per batch, so each change takes effect in them
within CXR_DEPLOYMENT_CACHE_S seconds, without a restart and without touching queued work.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from screening.selectors_comparison import promotion_evidence
from screening.selectors_deployment import (
    DeploymentInForce,
    deployment_cache_clear,
    deployment_in_force,
)
from screening.services.audit import RequestMeta, audit_record
from screening.services.errors import DeploymentError
from screening.services.text import text_clean
from screening.shadow_models import ModelDeployment


def _model_check(*, name: str) -> str:
    """Return the model's version if its files are sound; raise DeploymentError."""
    from mlcore.errors import ModelUnavailableError
    from mlcore.registry import model_files_check

    try:
        return str(model_files_check(name=name).version)
    except ModelUnavailableError as exc:
        raise DeploymentError(str(exc)) from exc


def _point_check(*, name: str) -> None:
    """Refuse a model whose card lacks the operating point that would be in force for it."""
    from mlcore.errors import ModelUnavailableError
    from mlcore.operating_point import OperatingPointError, operating_point_pick
    from mlcore.registry import model_card_read
    from screening.selectors import operating_point_in_force

    point = operating_point_in_force(model_name=name)
    if point.thresholds is not None:
        return  # an admin's thresholds for this model
    try:
        card = model_card_read(name=name)
        operating_point_pick(
            points=card.operating_points, default=card.default_operating_point, name=point.name
        )
    except (ModelUnavailableError, OperatingPointError) as exc:
        raise DeploymentError(f"{name}: {exc}; choose its operating point first.") from exc


def _state_locked() -> DeploymentInForce:
    """Lock the newest row (changes queue behind each other) and return the state."""
    ModelDeployment.objects.select_for_update().order_by("-id").first()
    return deployment_in_force(fresh=True)


def _deployment_append(
    *,
    action: str,
    in_force: str,
    candidate: str,
    previous: str,
    actor: Any,
    note: str,
    meta: RequestMeta | None,
    detail: dict,
) -> ModelDeployment:
    """Append the new state and its audit event (inside the caller's transaction)."""
    row = ModelDeployment.objects.create(
        action=action,
        in_force=in_force,
        candidate=candidate,
        previous=previous,
        note=text_clean(text=note or "")[:2000],
        changed_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        actor=actor,
        action=f"model.{action}",
        obj=row,
        meta=meta,
        detail={"in_force": in_force, "candidate": candidate, "note": row.note, **detail},
    )
    transaction.on_commit(deployment_cache_clear)
    return row


def model_candidate_set(
    *, name: str, actor: Any, note: str = "", meta: RequestMeta | None = None
) -> ModelDeployment:
    """Register `name` (a folder of the weights root) as the candidate screened in shadow."""
    name = (name or "").strip()
    version = _model_check(name=name)
    with transaction.atomic():
        state = _state_locked()
        if name == state.in_force:
            raise DeploymentError(f"{name} is the model in force already.")
        return _deployment_append(
            action=ModelDeployment.Action.CANDIDATE_SET,
            in_force=state.in_force,
            candidate=name,
            previous=state.previous,
            actor=actor,
            note=note,
            meta=meta,
            detail={"version": version, "replaced_candidate": state.candidate},
        )


def model_candidate_clear(
    *, actor: Any, note: str = "", meta: RequestMeta | None = None
) -> ModelDeployment | None:
    """Stop screening in shadow; return None when no candidate was set."""
    with transaction.atomic():
        state = _state_locked()
        if not state.candidate:
            return None
        return _deployment_append(
            action=ModelDeployment.Action.CANDIDATE_CLEAR,
            in_force=state.in_force,
            candidate="",
            previous=state.previous,
            actor=actor,
            note=note,
            meta=meta,
            detail={"cleared": state.candidate},
        )


def model_promote(
    *, actor: Any, note: str = "", meta: RequestMeta | None = None
) -> ModelDeployment:
    """Make the candidate the model in force if the reviewed cases allow it; raise
    DeploymentError (audited as model.promote_refused) when they do not."""
    with transaction.atomic():
        state = _state_locked()
        if not state.shadowing:
            raise DeploymentError("No candidate is registered.")
        version = _model_check(name=state.candidate)
        _point_check(name=state.candidate)
        evidence = promotion_evidence(in_force=state.in_force, candidate=state.candidate)
        detail = {
            "cases": evidence.cases,
            "sensitivities": evidence.sensitivities,
            "reasons": evidence.reasons,
        }
        if not evidence.allowed:
            audit_record(
                actor=actor,
                action="model.promote_refused",
                obj=state.candidate,
                meta=meta,
                detail={"in_force": state.in_force, **detail},
            )
        else:
            return _deployment_append(
                action=ModelDeployment.Action.PROMOTE,
                in_force=state.candidate,
                candidate="",
                previous=state.in_force,
                actor=actor,
                note=note,
                meta=meta,
                detail={"version": version, "replaced": state.in_force, **detail},
            )
    raise DeploymentError("Promotion refused: " + " ".join(evidence.reasons))


def model_rollback(
    *, actor: Any, note: str = "", meta: RequestMeta | None = None
) -> ModelDeployment:
    """Put back the model the last promotion replaced; raise DeploymentError if there is none."""
    with transaction.atomic():
        state = _state_locked()
        if not state.previous:
            raise DeploymentError("Nothing to roll back to: no promotion is on record.")
        _model_check(name=state.previous)
        return _deployment_append(
            action=ModelDeployment.Action.ROLLBACK,
            in_force=state.previous,
            candidate="",
            previous="",
            actor=actor,
            note=note,
            meta=meta,
            detail={"rolled_back": state.in_force},
        )
