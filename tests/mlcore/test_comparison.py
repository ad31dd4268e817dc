"""Statistics comparing two models on the same reviewed cases (mlcore.comparison)."""

from __future__ import annotations

import math

import pytest

from mlcore.comparison import (
    ModelOutput,
    calibration_measure,
    cohen_kappa,
    gate_disagreements,
    majority_label,
    mcnemar_exact,
    model_figures,
    models_compare,
    wilson_interval,
)


def test_wilson_interval_matches_the_textbook_figures():
    # 8 of 10: Wilson 95 % is 0.490 to 0.943 (Newcombe 1998, table I).
    p = wilson_interval(successes=8, n=10)
    assert p.value == 0.8
    assert p.low == pytest.approx(0.4902, abs=1e-4) and p.high == pytest.approx(0.9433, abs=1e-4)
    none = wilson_interval(successes=0, n=0)
    assert none.value is None and none.low is None
    edge = wilson_interval(successes=0, n=5)
    assert edge.low == 0.0 and 0 < edge.high < 0.5


def test_mcnemar_exact_is_the_two_sided_binomial():
    assert mcnemar_exact(b=0, c=0) == 1.0
    assert mcnemar_exact(b=3, c=3) == 1.0
    # b=1, c=9: 2 * P(X <= 1 | n=10, 1/2) = 2 * 11 / 1024.
    assert mcnemar_exact(b=1, c=9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(b=9, c=1) == mcnemar_exact(b=1, c=9)
    assert mcnemar_exact(b=0, c=20) == pytest.approx(2 / 2**20)


def test_cohen_kappa():
    truth = ["covid", "covid", "normal", "normal"]
    assert cohen_kappa(truth=truth, predicted=truth) == 1.0
    assert cohen_kappa(truth=truth, predicted=["normal", "normal", "covid", "covid"]) == -1.0
    # Every case one class for both raters: chance agreement is 1, kappa undefined.
    assert cohen_kappa(truth=["normal"] * 3, predicted=["normal"] * 3) is None
    # 2x2 example: observed 0.7, expected 0.5 -> 0.4.
    t = ["a"] * 5 + ["b"] * 5
    p = ["a"] * 4 + ["b"] + ["a"] * 2 + ["b"] * 3
    assert cohen_kappa(truth=t, predicted=p) == pytest.approx(0.4)


def test_calibration_ece_and_brier():
    sure = [{"covid": 1.0, "pneumonia": 0.0, "normal": 0.0}] * 4
    ece, brier = calibration_measure(probabilities=sure, truth=["covid"] * 4)
    assert ece == pytest.approx(0.0) and brier == pytest.approx(0.0)
    ece, brier = calibration_measure(probabilities=sure, truth=["normal"] * 4)
    assert ece == pytest.approx(1.0) and brier == pytest.approx(2.0)
    assert calibration_measure(probabilities=[], truth=[]) == (None, None)


def test_a_refusal_is_a_miss_for_its_class_and_left_out_of_calibration():
    probs = {"covid": 0.8, "pneumonia": 0.1, "normal": 0.1}
    outputs = [ModelOutput("covid", probs), ModelOutput(""), ModelOutput("normal", probs)]
    figures = model_figures(truth=["covid", "covid", "normal"], outputs=outputs)
    assert (figures.sensitivity["covid"].successes, figures.sensitivity["covid"].n) == (1, 2)
    assert figures.specificity["covid"].successes == 1  # the normal film was not called covid
    assert figures.refused == 1 and figures.correct == 2
    _, brier = calibration_measure(probabilities=[probs, probs], truth=["covid", "normal"])
    assert figures.brier == pytest.approx(brier)


def test_models_compare_counts_discordant_pairs():
    truth = ["covid", "pneumonia", "normal", "normal"]
    current = [ModelOutput(x) for x in ("covid", "normal", "normal", "covid")]
    candidate = [ModelOutput(x) for x in ("covid", "pneumonia", "normal", "normal")]
    result = models_compare(truth=truth, current=current, candidate=candidate)
    assert (result.only_current_correct, result.only_candidate_correct) == (0, 2)
    assert result.mcnemar_p == pytest.approx(0.5)
    assert result.candidate.kappa == 1.0 and result.cases == 4


def test_gate_disagreements_and_majority():
    gate = gate_disagreements(
        current_accepted=[True, True, False, False], candidate_accepted=[True, False, True, False]
    )
    assert gate == {
        "images": 4,
        "both_accepted": 1,
        "both_refused": 1,
        "only_current_accepted": 1,
        "only_candidate_accepted": 1,
    }
    assert majority_label(labels=["covid", "covid", "normal"]) == "covid"
    assert majority_label(labels=["covid", "normal"]) is None
    assert majority_label(labels=[]) is None
    assert not math.isnan(wilson_interval(successes=1, n=1).low)
