"""Storing a result fills Prediction.gate_distance from the gate's scores (mlcore.drift)."""

from __future__ import annotations

import pytest

from screening.models import Prediction
from screening.services import prediction_execute
from tests.support.screener import FakeResult

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (FakeResult(), None),  # a result without gate scores
        (FakeResult(accepted=False, reason="lateral view", label=None, probabilities=None), 1.5),
        (FakeResult(), 1.5),
    ],
)
def test_gate_distance_is_stored_with_the_result(submit, fake_screener, result, expected):
    if expected is not None:
        result.gate_scores = {"distance_sq": 64 * expected**2, "distance_dims": 64.0}
    fake_screener.result = result
    prediction = Prediction.objects.get(image__study=submit())
    prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.is_final and prediction.gate_distance == pytest.approx(expected)


def test_the_tiny_model_fills_the_gate_distance(submit, tiny_model):
    from screening.inference import screener_reset

    screener_reset()
    try:
        prediction = Prediction.objects.get(image__study=submit())
        prediction_execute(prediction_id=prediction.id)
    finally:
        screener_reset()
    prediction.refresh_from_db()
    assert prediction.is_final and 0.1 < prediction.gate_distance < 10
