"""The operating point in force: an admin puts one of the card's points, or thresholds of
their own, in force for a model, or hands the choice back to the setting."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from screening.models import OperatingPointChoice
from screening.services.audit import RequestMeta, audit_record
from screening.services.errors import OperatingPointChoiceError
from screening.services.text import text_clean


def card_thresholds_read(*, model_name: str, name: str) -> dict[str, float]:
    """Return the thresholds of the card's point `name`; raise OperatingPointChoiceError."""
    from mlcore.errors import ModelUnavailableError
    from mlcore.operating_point import OperatingPointError, operating_point_pick
    from mlcore.registry import model_card_read

    try:
        card = model_card_read(name=model_name)
        point = operating_point_pick(
            points=card.operating_points, default=card.default_operating_point, name=name
        )
    except (ModelUnavailableError, OperatingPointError) as exc:
        raise OperatingPointChoiceError(str(exc)) from exc
    if point is None:
        raise OperatingPointChoiceError(f"model {model_name!r} ships no operating points")
    return point.thresholds


def operating_point_thresholds_resolve(
    *, model_name: str, name: str, covid_min: float | None, pneumonia_min: float | None
) -> dict[str, float]:
    """Return the thresholds a choice puts in force; raise OperatingPointChoiceError.

    Without thresholds, `name` must be a point of the model's card; with both, they are
    used as given (a point picked off the card's ROC curve).
    """
    from mlcore.operating_point import OperatingPoint, OperatingPointError

    if not name:
        raise OperatingPointChoiceError("Give the operating point a name.")
    if covid_min is None and pneumonia_min is None:
        return card_thresholds_read(model_name=model_name, name=name)
    if covid_min is None or pneumonia_min is None:
        raise OperatingPointChoiceError("Give both thresholds, or neither to use the card's.")
    try:
        point = OperatingPoint(name=name, covid_min=covid_min, pneumonia_min=pneumonia_min)
    except OperatingPointError as exc:
        raise OperatingPointChoiceError(str(exc)) from exc
    return point.thresholds


def operating_point_choose(
    *,
    model_name: str,
    name: str,
    actor: Any,
    covid_min: float | None = None,
    pneumonia_min: float | None = None,
    note: str = "",
    meta: RequestMeta | None = None,
) -> OperatingPointChoice:
    """Put a point in force for `model_name` and audit the change (see
    `operating_point_thresholds_resolve` for what the thresholds may be)."""
    name = text_clean(text=name).strip()[:32]
    thresholds = operating_point_thresholds_resolve(
        model_name=model_name, name=name, covid_min=covid_min, pneumonia_min=pneumonia_min
    )
    with transaction.atomic():
        previous = (
            OperatingPointChoice.objects.select_for_update().filter(model_name=model_name).first()
        )
        before = {"name": previous.name, **previous.thresholds} if previous else None
        choice, _ = OperatingPointChoice.objects.update_or_create(
            model_name=model_name,
            defaults={
                "name": name,
                **thresholds,
                "note": text_clean(text=note or "")[:2000],
                "changed_by": actor if getattr(actor, "is_authenticated", False) else None,
            },
        )
        audit_record(
            actor=actor,
            action="operating_point.change",
            obj=choice,
            meta=meta,
            detail={
                "model": model_name,
                "previous": before,
                "now": {"name": name, **thresholds},
                "note": choice.note,
            },
        )
    return choice


def operating_point_reset(*, model_name: str, actor: Any, meta: RequestMeta | None = None) -> bool:
    """Hand the choice back to the setting CXR_OPERATING_POINT; say whether one was set."""
    with transaction.atomic():
        choice = (
            OperatingPointChoice.objects.select_for_update().filter(model_name=model_name).first()
        )
        if choice is None:
            return False
        audit_record(
            actor=actor,
            action="operating_point.reset",
            obj=choice,
            meta=meta,
            detail={"model": model_name, "previous": {"name": choice.name, **choice.thresholds}},
        )
        choice.delete()
    return True
