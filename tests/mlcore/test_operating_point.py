"""Operating points: the screening decision from calibrated probabilities, read from cards."""

from __future__ import annotations

import pytest

from mlcore.card import card_from_dict
from mlcore.evidence import EVIDENCE_IN_LUNGS_MIN, evidence_outside_lungs
from mlcore.operating_point import (
    OperatingPoint,
    OperatingPointError,
    operating_point_pick,
    probabilities_decide,
)
from mlcore.pipeline import ScreenResult

POINT = OperatingPoint(name="screening", covid_min=0.2, pneumonia_min=0.4)


@pytest.mark.parametrize(
    ("probabilities", "decision"),
    [
        ({"covid": 0.25, "pneumonia": 0.05, "normal": 0.70}, "covid"),  # argmax says normal
        ({"covid": 0.20, "pneumonia": 0.00, "normal": 0.80}, "covid"),  # at the threshold
        ({"covid": 0.15, "pneumonia": 0.25, "normal": 0.60}, "pneumonia"),  # any: 0.40
        ({"covid": 0.19, "pneumonia": 0.20, "normal": 0.61}, "normal"),  # any: 0.39
        ({"covid": 0.10, "pneumonia": 0.85, "normal": 0.05}, "pneumonia"),
    ],
)
def test_decision_runs_at_the_point_not_the_argmax(probabilities, decision):
    assert probabilities_decide(probabilities=probabilities, point=POINT) == decision


def test_thresholds_out_of_range_are_refused():
    with pytest.raises(OperatingPointError):
        OperatingPoint(name="x", covid_min=1.2, pneumonia_min=0.5)
    with pytest.raises(OperatingPointError):
        OperatingPoint(name="x", covid_min=0.2, pneumonia_min="0.5")


def test_points_come_from_the_card_and_unknown_keys_are_ignored():
    card = card_from_dict(
        data={
            "name": "m",
            "version": "1",
            "operating_points": {
                "screening": {"covid_min": 0.1, "pneumonia_min": 0.3, "later_key": 1},
                "balanced": {"covid_min": 0.5, "pneumonia_min": 0.6},
            },
            "default_operating_point": "screening",
            "a_key_from_the_future": True,
        }
    )
    default = operating_point_pick(
        points=card.operating_points, default=card.default_operating_point
    )
    assert default.name == "screening" and default.thresholds == {
        "covid_min": 0.1,
        "pneumonia_min": 0.3,
    }
    named = operating_point_pick(points=card.operating_points, default="screening", name="balanced")
    assert named.covid_min == 0.5
    with pytest.raises(OperatingPointError, match="not in the card"):
        operating_point_pick(points=card.operating_points, default="screening", name="nope")
    assert operating_point_pick(points={}, default="") is None


def test_point_round_trips_through_its_card_form():
    point = OperatingPoint(
        name="balanced", covid_min=0.4, pneumonia_min=0.55, targets={"covid": 0.9}, rule="youden"
    )
    again = operating_point_pick(points={"balanced": point.to_dict()}, default="balanced")
    assert again == point


def test_evidence_outside_lungs_is_one_rule():
    assert evidence_outside_lungs(evidence_in_lungs=EVIDENCE_IN_LUNGS_MIN - 0.01) is True
    assert evidence_outside_lungs(evidence_in_lungs=EVIDENCE_IN_LUNGS_MIN) is False
    assert evidence_outside_lungs(evidence_in_lungs=None) is False
    result = ScreenResult(accepted=True, model_name="m", model_version="1", evidence_in_lungs=0.3)
    assert result.evidence_outside_lungs is True


def test_screener_decides_at_the_card_default_or_the_point_asked(tiny_screener, toy_png):
    result = tiny_screener.screen(data=toy_png, filename="x.png")
    assert result.operating_point == "screening"
    assert result.thresholds == {"covid_min": 0.2, "pneumonia_min": 0.3}
    assert result.decision == probabilities_decide(
        probabilities=result.probabilities, point=tiny_screener.operating_point
    )
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert result.evidence_in_lungs is None

    always = OperatingPoint(name="custom", covid_min=0.0, pneumonia_min=0.0)
    (flagged,) = tiny_screener.screen_many(items=[(toy_png, "x.png")], operating_point=always)
    assert (flagged.decision, flagged.operating_point) == ("covid", "custom")
    (balanced,) = tiny_screener.screen_many(items=[(toy_png, "x.png")], operating_point="balanced")
    assert balanced.thresholds == {"covid_min": 0.5, "pneumonia_min": 0.5}
    with pytest.raises(OperatingPointError):
        tiny_screener.screen_many(items=[(toy_png, "x.png")], operating_point="nope")
