"""Distillation: blended targets, the unlabelled split, and a student trained end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from training.data import Table
from training.distill import targets_blend, unlabelled_fit, unlabelled_rows_split
from training.finish import FRONTAL_MIN_RANGE, frontal_min_fit


def test_targets_blend_mixes_label_and_teacher():
    labels = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], np.float32)
    teacher = np.array([[0.6, 0.2, 0.2], [0.1, 0.1, 0.8]], np.float32)
    out = targets_blend(labels=labels, teacher=teacher, weight=0.5)
    np.testing.assert_allclose(out, [[0.8, 0.1, 0.1], [0.3, 0.3, 0.4]], atol=1e-6)
    np.testing.assert_allclose(targets_blend(labels=labels, teacher=teacher, weight=0.0), labels)
    with pytest.raises(ValueError, match="distill weight"):
        targets_blend(labels=labels, teacher=teacher, weight=1.5)


def test_unlabelled_split_is_stable_and_keeps_a_third_unseen():
    rows = [{"file": f"unlabelled/film_{i:04d}.jpg"} for i in range(3000)]
    fit, held = unlabelled_rows_split(table=Table(root=".", rows=rows))
    assert len(fit.rows) + len(held.rows) == 3000
    assert not {r["file"] for r in fit.rows} & {r["file"] for r in held.rows}
    assert 0.30 < len(held.rows) / 3000 < 0.37
    # The same file always falls on the same side (train and evaluate must agree).
    assert all(unlabelled_fit(file=r["file"]) for r in fit.rows)


def test_frontal_threshold_sits_midway_to_the_negatives():
    chest = np.full(1000, 0.9)
    negatives = np.full(100, 0.1)
    # Midway in log-odds between 0.9 and 0.1 is 0.5; 0.9 x 0.9 = 0.81 would be higher.
    assert frontal_min_fit(p_frontal=chest, p_frontal_negatives=negatives) == pytest.approx(0.5)
    low_neg = np.full(100, 0.001)
    mid = frontal_min_fit(p_frontal=chest, p_frontal_negatives=low_neg)
    assert FRONTAL_MIN_RANGE[0] <= mid < 0.1
    # Without negatives, or when they overlap the chest films, the chest-only rule holds.
    assert frontal_min_fit(p_frontal=chest, p_frontal_negatives=None) == 0.5
    overlap = np.full(100, 0.95)
    assert frontal_min_fit(p_frontal=chest * 0.3, p_frontal_negatives=overlap) == pytest.approx(
        0.27 * 0.9
    )


@pytest.mark.slow
def test_student_learns_from_teacher_and_unlabelled_films(tmp_path, toy_data, one_view_model):
    from tests.training.test_cli import TINY_GATE, model_copy, run, tiny_train

    teacher = model_copy(model=one_view_model, out=tmp_path / "w" / "teacher")
    assert teacher["training"].get("teachers") is None
    images = sorted((toy_data / "images").glob("*.png"))[:30]
    unlabelled_csv = tmp_path / "unlabelled.csv"
    with unlabelled_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "source"])
        w.writerows([[str(p), "toy"] for p in images])
    n_fit = sum(unlabelled_fit(file=str(p)) for p in images)

    student = tiny_train(
        out=tmp_path / "w" / "student",
        data=toy_data,
        extra=(
            *("--teacher", tmp_path / "w" / "teacher", "--distill-weight", "0.7"),
            *("--unlabelled", unlabelled_csv),
        ),
    )
    t = student["training"]
    assert t["teachers"] == [f"{teacher['name']}@{teacher['version']}"]
    assert t["distill_weight"] == 0.7
    assert t["n_unlabelled"] == n_fit > 0
    assert t["unlabelled"] == [f"{tmp_path.name}/unlabelled.csv"]

    proc = run(
        [
            *("evaluate", "--model", "student", "--weights-dir", tmp_path / "w"),
            *("--data", toy_data, "--split", "test", "--report", tmp_path / "r"),
            *("--accept", unlabelled_csv),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_set = json.loads((tmp_path / "r" / "report.json").read_text())["gate"]["by_set"]
    held = by_set[f"{tmp_path.name}/unlabelled.csv (held-out part)"]
    assert held["n"] == len(images) - n_fit

    proc = run(
        [
            *("train", "--data", toy_data, "--out", tmp_path / "x", "--epochs", "1"),
            *("--unlabelled", unlabelled_csv, *TINY_GATE),
        ]
    )
    assert proc.returncode != 0 and "--unlabelled needs --teacher" in proc.stderr


@pytest.mark.slow
def test_pretrain_then_train_from_its_weights(tmp_path, toy_data):
    from tests.training.test_cli import TINY_GATE, run

    weights = tmp_path / "ssl.weights.h5"
    proc = run(
        [
            *("pretrain", "--data", toy_data, "--out", weights, "--epochs", "1"),
            *("--image-size", "64", "--batch-size", "8"),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = json.loads(proc.stdout.strip().splitlines()[-1])
    assert log["n_films"] > 0 and np.isfinite(log["epochs"][0]["loss"])
    assert weights.is_file()

    out = tmp_path / "w" / "from-ssl"
    proc = run(
        [
            *("train", "--data", toy_data, "--out", out, "--epochs", "1"),
            *("--image-size", "64", "--batch-size", "8", "--init-weights", weights, *TINY_GATE),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["init_weights"] == "ssl.weights.h5"

    proc = run(["pretrain", "--data", toy_data, "--out", tmp_path / "x.h5", "--epochs", "1"])
    assert proc.returncode != 0 and "--out must name a .weights.h5 file" in proc.stderr
