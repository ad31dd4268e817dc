"""Grad-CAM band figures and the gallery's strata."""

from __future__ import annotations

import numpy as np
import pytest

from training.heatmaps import band_mask, cam_band_fraction, cam_band_report, gallery_pick


def test_band_mask_is_the_outer_ring():
    mask = band_mask(shape=(10, 10), band=0.1)
    assert mask[0].all() and mask[:, -1].all() and not mask[1:-1, 1:-1].any()


def test_band_fraction_tells_edge_evidence_from_central_evidence():
    cams = np.zeros((3, 10, 10))
    cams[0, 4:6, 4:6] = 1.0  # centre only
    cams[1, 0, :] = 1.0  # top edge only
    # cams[2] stays all zero: no evidence at all
    frac = cam_band_fraction(cams=cams, band=0.1)
    assert frac[0] == 0.0 and frac[1] == 1.0 and np.isnan(frac[2])


def test_uniform_map_gives_the_band_area():
    report = cam_band_report(cams=np.ones((4, 12, 12)), sources=["a", "a", "b", "b"])
    assert report["all"] == pytest.approx(report["band_area_fraction"]) == pytest.approx(44 / 144)
    assert set(report["by_source"]) == {"a", "b"}


def test_gallery_pick_groups_by_source_and_label():
    rows = gallery_pick(sources=["x", "x", "y", "x"], labels=["c", "n", "c", "c"], per_stratum=1)
    assert rows == [("x / c", [0]), ("x / n", [1]), ("y / c", [2])]
