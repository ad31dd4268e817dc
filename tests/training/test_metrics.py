"""Metrics, sample weights and data helpers (fast, no TensorFlow)."""

from __future__ import annotations

import numpy as np

from training.data import hash_split, rows_hash
from training.metrics import ece_compute, metrics_compute, sensitivity_at_specificity
from training.trainset import sample_weights_compute


def test_perfect_predictions():
    labels = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[labels] * 0.97 + 0.01
    m = metrics_compute(probs=probs, labels=labels, sources=["a", "a", "a", "b", "b", "b"])
    assert m["accuracy"] == 1 and m["balanced_accuracy"] == 1 and m["macro_auc"] == 1
    assert m["per_class"]["covid"]["sensitivity"] == 1 and m["per_class"]["covid"]["ppv"] == 1
    assert m["per_source"]["a"]["n"] == 3
    assert m["covid_vs_rest_auc_within_source"]["a"] == 1
    assert m["covid_sensitivity_at_95_specificity"] == 1


def test_ece_zero_when_calibrated_and_positive_when_overconfident():
    labels = np.array([0] * 50 + [1] * 50)
    probs = np.tile([0.99, 0.005, 0.005], (100, 1))
    assert ece_compute(probs=probs, labels=labels) > 0.4


def test_sensitivity_at_specificity_single_class_is_none():
    assert sensitivity_at_specificity(y=np.ones(4), score=np.ones(4), specificity=0.95) is None


def test_sample_weights_balance_within_source_and_classes():
    labels = np.array([0] * 80 + [1] * 20 + [1] * 50 + [2] * 50)
    sources = ["cohen"] * 100 + ["kermany"] * 100
    strata = [f"{s}/{y}" for s, y in zip(sources, labels, strict=True)]
    w = sample_weights_compute(strata=strata, labels=labels)
    assert abs(w.mean() - 1) < 1e-5
    # Rare label inside a source is up-weighted relative to the common one.
    assert w[80] > w[0]
    totals = [w[labels == c].sum() for c in range(3)]
    assert max(totals) / min(totals) < 1.01


def test_hash_split_is_deterministic_and_roughly_proportional():
    splits = [hash_split(key=f"f{i}") for i in range(2000)]
    assert splits == [hash_split(key=f"f{i}") for i in range(2000)]
    assert 0.55 < splits.count("train") / 2000 < 0.65


def test_rows_hash_changes_with_rows():
    rows = [{"file": "a", "label": "covid", "split": "train"}]
    assert rows_hash(rows=rows) != rows_hash(rows=[{**rows[0], "split": "val"}])
