"""Targets, strata and splits of several data sets read together."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from training.trainset import (
    INDETERMINATE_TARGET,
    row_target,
    sample_weights_compute,
    tables_read,
    training_data_build,
)


def test_row_target_maps_classes_and_softens_indeterminate():
    assert row_target(row={"label": "covid"}).tolist() == [1, 0, 0]
    assert row_target(row={"label": "normal", "appearance": "negative"}).tolist() == [0, 0, 1]
    soft = row_target(row={"label": "", "appearance": "indeterminate"})
    assert soft.tolist() == list(INDETERMINATE_TARGET) and soft.sum() == pytest.approx(1.0)
    assert row_target(row={"label": ""}) is None


def _write(root, rows):
    root.mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_two_sets_read_together_keep_their_own_folders(tmp_path, toy_data):
    siim = tmp_path / "siim"
    with open(toy_data / "metadata.csv", newline="") as fh:
        toy_rows = list(csv.DictReader(fh))
    grades = ["typical", "negative", "indeterminate", "atypical"]
    rows = [
        {
            "file": str(toy_data / r["file"]),
            "label": {"typical": "covid", "negative": "normal", "atypical": "pneumonia"}.get(g, ""),
            "appearance": g,
            "source": "siim",
            "split": r["split"],
        }
        for r, g in zip(toy_rows, grades * len(toy_rows), strict=False)
    ]
    _write(siim, rows)
    table = tables_read(roots=[toy_data, siim])
    assert len(table.rows) == len(toy_rows) + len(rows)
    assert all(r["path"].endswith(".png") or r["path"].endswith(".jpg") for r in table.rows)
    data = training_data_build(roots=[toy_data, siim], size=32)
    # Indeterminate films train (soft) but never enter val or test figures.
    assert any(t.tolist() == list(INDETERMINATE_TARGET) for t in data.targets_train)
    assert all(r.get("appearance") != "indeterminate" for r in data.val.rows + data.test.rows)
    assert len(data.x_train) == len(data.targets_train) == len(data.train.rows)
    assert "siim/indeterminate" in data.strata_train


def test_sample_weights_balance_grades_inside_a_source():
    strata = ["siim/typical"] * 60 + ["siim/negative"] * 30 + ["siim/atypical"] * 10
    labels = np.array([0] * 60 + [2] * 30 + [1] * 10)
    w = sample_weights_compute(strata=strata, labels=labels)
    assert abs(w.mean() - 1) < 1e-5
    assert w[-1] > w[60] > w[0]  # the rarer the grade, the heavier


def test_source_weights_lift_a_source_inside_each_class_and_name_an_unknown_one():
    strata = (
        ["cohen/covid"] * 20
        + ["hannover/covid"] * 20
        + ["cohen/pneumonia"] * 20
        + ["nih/pneumonia"] * 20
        + ["nih/normal"] * 40
    )
    labels = np.array([0] * 40 + [1] * 40 + [2] * 40)
    plain = sample_weights_compute(strata=strata, labels=labels)
    lifted = sample_weights_compute(strata=strata, labels=labels, source_weights={"cohen": 3.0})
    assert abs(lifted.mean() - 1) < 1e-5
    # Classes stay balanced; inside each class Cohen's weight grows three times the others'.
    assert lifted[:40].sum() == pytest.approx(lifted[80:].sum(), rel=1e-5)
    for cohen, other in ((slice(0, 20), slice(20, 40)), (slice(40, 60), slice(60, 80))):
        odds = lifted[cohen].sum() / lifted[other].sum()
        assert odds == pytest.approx(3 * plain[cohen].sum() / plain[other].sum(), rel=1e-5)
    with pytest.raises(ValueError, match=r"'kermany'.*cohen, hannover, nih"):
        sample_weights_compute(strata=strata, labels=labels, source_weights={"kermany": 2.0})
