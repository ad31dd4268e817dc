"""Operating points: turn calibrated probabilities into the screening decision.

A screening tool runs at a sensitivity first (a missed case costs more than a second look),
so the decision is not the argmax: it is `covid` when p(covid) reaches `covid_min`, else
`pneumonia` when any pneumonia (p(covid) + p(pneumonia) = 1 - p(normal)) reaches
`pneumonia_min`, else `normal`. The card ships named points fitted on validation films;
a deployment may run at another one without retraining.

Pure Python: the web process reads points from the card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class OperatingPointError(ValueError):
    """A point is unknown or its thresholds are out of range."""


@dataclass(frozen=True, kw_only=True)
class OperatingPoint:
    """Two thresholds on calibrated probabilities, and what they were fitted for."""

    name: str
    covid_min: float
    pneumonia_min: float
    # e.g. {"covid": 0.97, "any_pneumonia": 0.95} on the validation films, or {} (hand-set).
    targets: Mapping[str, float] = field(default_factory=dict)
    rule: str = ""
    # Figures per test set (sensitivity, specificity, PPV, NPV with 95% intervals).
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("covid_min", "pneumonia_min"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise OperatingPointError(f"{key} must be a number in [0, 1], not {value!r}")

    @property
    def thresholds(self) -> dict[str, float]:
        return {"covid_min": float(self.covid_min), "pneumonia_min": float(self.pneumonia_min)}

    def to_dict(self) -> dict[str, Any]:
        """Return the card's JSON form (the name is the key it is stored under)."""
        return {
            **self.thresholds,
            "targets": dict(self.targets),
            "rule": self.rule,
            "figures": dict(self.figures),
        }


def operating_point_from_dict(*, name: str, data: Mapping[str, Any]) -> OperatingPoint:
    """Build a point from its card entry; unknown keys are ignored."""
    try:
        return OperatingPoint(
            name=name,
            covid_min=float(data["covid_min"]),
            pneumonia_min=float(data["pneumonia_min"]),
            targets=dict(data.get("targets") or {}),
            rule=str(data.get("rule") or ""),
            figures=dict(data.get("figures") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OperatingPointError(f"operating point {name!r} is invalid: {exc}") from exc


def operating_point_pick(
    *, points: Mapping[str, Any], default: str, name: str | None = None
) -> OperatingPoint | None:
    """Return the named point of a card (`default` when no name); None if it ships none.

    An unknown name raises OperatingPointError: a deployment must not screen at a point it
    did not mean.
    """
    if not points:
        return None
    chosen = name or default or next(iter(points))
    if chosen not in points:
        raise OperatingPointError(
            f"operating point {chosen!r} is not in the card (it has {', '.join(points)})"
        )
    return operating_point_from_dict(name=chosen, data=points[chosen])


def probabilities_decide(*, probabilities: Mapping[str, float], point: OperatingPoint) -> str:
    """Return the screening decision, "covid", "pneumonia" or "normal", at `point`."""
    covid = float(probabilities.get("covid", 0.0))
    pneumonia = float(probabilities.get("pneumonia", 0.0))
    if covid >= point.covid_min:
        return "covid"
    if covid + pneumonia >= point.pneumonia_min:
        return "pneumonia"
    return "normal"
