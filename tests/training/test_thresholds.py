"""Threshold fitting, the patient-level bootstrap and ROC thinning, on made-up scores."""

from __future__ import annotations

import numpy as np
import pytest

from training.thresholds import (
    confusion_bootstrap,
    flags_compute,
    pneumonia_threshold_fit,
    roc_thin,
    threshold_for_sensitivity,
    threshold_youden,
)


def test_threshold_for_sensitivity_is_the_highest_that_reaches_the_target():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    t = threshold_for_sensitivity(positive_scores=scores, target=0.8)
    assert t == pytest.approx(0.2)
    assert (scores >= t).mean() >= 0.8
    assert (scores >= t + 1e-3).mean() < 0.8
    # 0.97 of 10 needs all 10.
    assert threshold_for_sensitivity(positive_scores=scores, target=0.97) == pytest.approx(0.05)


def test_threshold_never_rounds_above_the_score_it_keeps():
    scores = np.array([0.123456789, 0.9])
    t = threshold_for_sensitivity(positive_scores=scores, target=1.0)
    assert t <= 0.123456789 and (scores >= t).all()


def test_youden_separates_a_clean_split():
    y = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    t = threshold_youden(y=y, score=score)
    assert 0.3 < t <= 0.6


def test_pneumonia_threshold_counts_what_covid_already_flags():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    any_score = np.array([0.9, 0.2, 0.8, 0.6, 0.5, 0.3, 0.1, 0.05])
    covid = np.array([False, True, False, False, False, False, False, False])
    t = pneumonia_threshold_fit(y=y, any_score=any_score, covid_flagged=covid, target=0.75)
    # One positive is flagged by covid; two more are needed: the 0.9 and 0.8 ones.
    assert t == pytest.approx(0.8)
    flagged = covid | (any_score >= t)
    assert flagged[y].mean() >= 0.75
    # Covid already flags enough: the pneumonia route adds nothing.
    assert pneumonia_threshold_fit(y=y, any_score=any_score, covid_flagged=y, target=0.9) == 1.0
    youden = pneumonia_threshold_fit(y=y, any_score=any_score, covid_flagged=covid, target=None)
    assert 0.5 < youden <= 0.6


def test_flags_follow_the_decision_rule():
    probs = np.array([[0.3, 0.1, 0.6], [0.1, 0.35, 0.55], [0.1, 0.2, 0.7]])
    covid, any_ = flags_compute(probs=probs, covid_min=0.25, pneumonia_min=0.4)
    assert covid.tolist() == [True, False, False]
    assert any_.tolist() == [True, True, False]


def test_bootstrap_figures_and_intervals():
    y = np.array([1] * 50 + [0] * 50)
    flagged = np.array([1] * 45 + [0] * 5 + [1] * 10 + [0] * 40)
    out = confusion_bootstrap(y=y, flagged=flagged, n_boot=500, seed=3)
    assert out["counts"] == {"tp": 45, "fn": 5, "fp": 10, "tn": 40}
    assert out["sensitivity"]["value"] == 0.9 and out["specificity"]["value"] == 0.8
    assert out["ppv"]["value"] == pytest.approx(45 / 55, abs=1e-4)
    assert out["npv"]["value"] == pytest.approx(40 / 45, abs=1e-4)
    lo, hi = out["sensitivity"]["ci95"]
    assert lo < 0.9 < hi and lo > 0.75 and hi <= 1.0
    again = confusion_bootstrap(y=y, flagged=flagged, n_boot=500, seed=3)
    assert again == out  # seeded


def test_bootstrap_resamples_patients_not_films():
    # Two patients of 20 films each: one all caught, one all missed. Film-level resampling
    # would give a narrow interval around 0.5; patient-level sees 0, 0.5 or 1.
    y = np.ones(40, int)
    flagged = np.array([1] * 20 + [0] * 20)
    groups = np.array(["a"] * 20 + ["b"] * 20)
    by_patient = confusion_bootstrap(y=y, flagged=flagged, groups=groups, n_boot=400, seed=0)
    by_film = confusion_bootstrap(y=y, flagged=flagged, n_boot=400, seed=0)
    assert by_patient["sensitivity"]["ci95"] == [0.0, 1.0]
    assert by_film["sensitivity"]["ci95"][0] > 0.2
    # No negatives: specificity has no value and no interval.
    assert by_patient["specificity"] == {"value": None, "ci95": None}


def test_roc_is_thinned_and_keeps_its_ends():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    score = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    roc = roc_thin(y=y, score=score, max_points=200)
    assert len(roc["fpr"]) <= 200 and len(roc["fpr"]) == len(roc["tpr"]) == len(roc["threshold"])
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert roc["threshold"][0] <= 1.0 and 0.6 < roc["auc"] < 0.9
    assert np.all(np.diff(roc["threshold"]) <= 0)
    assert roc_thin(y=np.ones(5), score=np.zeros(5))["auc"] is None


def test_vectorised_flags_agree_with_the_decision_rule():
    from mlcore.operating_point import OperatingPoint, probabilities_decide

    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], 500)
    point = OperatingPoint(name="p", covid_min=0.3, pneumonia_min=0.55)
    covid, any_ = flags_compute(probs=probs, covid_min=0.3, pneumonia_min=0.55)
    decisions = [
        probabilities_decide(
            probabilities=dict(zip(("covid", "pneumonia", "normal"), row, strict=True)),
            point=point,
        )
        for row in probs
    ]
    assert covid.tolist() == [d == "covid" for d in decisions]
    assert any_.tolist() == [d != "normal" for d in decisions]
