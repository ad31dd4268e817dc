"""The shortcut checks: lung atlas, band masking, evidence outside the lungs, SIIM figures."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import auc_bootstrap_interval, siim_figures
from training.shortcut import (
    MASK_BAND,
    band_masked,
    cam_outside_lungs,
    lung_mask,
    outside_lungs_report,
)


def test_lung_mask_covers_two_fields_and_not_the_edges():
    m = lung_mask(height=100, width=100)
    assert 0.25 < m.mean() < 0.5
    assert m[47, 29] and m[47, 71] and not m[47, 50]  # both lungs, not the mediastinum
    assert not m[:5].any() and not m[:, :5].any() and not m[:, -5:].any()


def test_band_masked_zeroes_only_the_outer_band_of_the_content():
    array = np.ones((64, 64), np.float32)
    box = (8, 0, 56, 64)  # letterboxed content
    out = band_masked(array=array, content_box=box)
    dy, dx = round(48 * MASK_BAND), round(64 * MASK_BAND)
    assert out[8 + dy : 56 - dy, dx : 64 - dx].min() == 1.0
    assert out[8 : 8 + dy].max() == 0.0 and out[:, :dx].max() == 0.0
    assert out.sum() == pytest.approx((48 - 2 * dy) * (64 - 2 * dx))


def test_cam_outside_lungs_tells_lung_evidence_from_edge_evidence():
    box = (0, 0, 64, 64)
    lungs = np.zeros((8, 8), np.float32)
    lungs[3:5, 2] = lungs[3:5, 5] = 1.0
    edge = np.zeros((8, 8), np.float32)
    edge[0, :] = 1.0
    assert cam_outside_lungs(cam=lungs, content_box=box, size=64) < 0.3
    assert cam_outside_lungs(cam=edge, content_box=box, size=64) > 0.9
    assert cam_outside_lungs(cam=np.zeros((8, 8)), content_box=box, size=64) is None
    report = outside_lungs_report(shares=[0.2, None, 0.8], sources=["a", "a", "b"])
    assert report["by_source"] == {"a": 0.2, "b": 0.8}


def test_siim_figures_use_grades_and_ignore_other_sources():
    rows = [
        {"source": "siim", "appearance": g}
        for g in ("typical", "typical", "negative", "negative", "atypical", "indeterminate")
    ] + [{"source": "cohen", "label": "covid"}]
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.2, 0.1, 0.7],
         [0.3, 0.6, 0.1], [0.4, 0.4, 0.2], [0.0, 0.0, 1.0]]
    )  # fmt: skip
    f = siim_figures(probs=probs, rows=rows)
    assert f["siim_typical_vs_negative_auc"] == 1.0
    assert f["siim_opacity_vs_negative_auc"] == 1.0
    assert f["siim_typical_vs_atypical_auc"] == 1.0


def test_bootstrap_interval_brackets_the_auc():
    rng = np.random.default_rng(0)
    y = np.array([1] * 50 + [0] * 12)
    score = y * 0.6 + rng.random(62)
    lo, hi = auc_bootstrap_interval(y=y, score=score, n_boot=300)
    assert 0.5 < lo < hi <= 1.0
    assert auc_bootstrap_interval(y=np.ones(5), score=np.ones(5)) is None
