"""The drift watch's pure part: the gate distance, a day's figures, a reference, a band."""

from __future__ import annotations

import math

import pytest

from mlcore.drift import (
    FIGURE_NAMES,
    DriftItem,
    band_of,
    figures_compute,
    gate_distance_of,
    reference_build,
    side_bucket,
)


def test_gate_distance_is_the_root_mean_square_whitened_coordinate():
    assert gate_distance_of(scores={"distance_sq": 64.0, "distance_dims": 64.0}) == 1.0
    assert gate_distance_of(scores={"mahalanobis_sq": 400.0, "distance_dims": 100}) == 2.0
    assert gate_distance_of(scores={"distance_sq": 64.0}) is None  # no dimensions: no figure
    assert gate_distance_of(scores={"mahalanobis_sq": 0.0}) is None  # no gate statistics
    assert gate_distance_of(scores={}) is None
    assert gate_distance_of(scores=None) is None
    assert gate_distance_of(scores={"distance_sq": math.nan, "distance_dims": 4}) is None


def test_the_screener_reports_the_distance_and_its_dimensions(tiny_screener):
    from mlcore.testing.arrays import chest_like_array

    result = tiny_screener.screen_array(pixels=chest_like_array(size=(256, 256), seed=5))
    dims = result.gate_scores["distance_dims"]
    assert dims == len(tiny_screener.gate_mean)
    distance = gate_distance_of(scores=result.gate_scores)
    assert distance == pytest.approx(math.sqrt(result.gate_scores["mahalanobis_sq"] / dims))


def _item(**kwargs) -> DriftItem:
    defaults = {"accepted": True, "gate_distance": 1.0, "p_covid": 0.2, "finding": "normal"}
    defaults |= {"width": 300, "height": 200, "format": "png"}
    return DriftItem(**(defaults | kwargs))


def test_figures_of_a_day():
    items = [
        _item(gate_distance=0.5, p_covid=0.1, finding="covid", agreed=True),
        _item(gate_distance=1.0, p_covid=0.3, finding="normal", agreed=False),
        _item(gate_distance=2.0, p_covid=0.5, finding="normal", format="dicom", modality="DX"),
        _item(accepted=False, reason="lateral view", gate_distance=4.0, p_covid=None, width=None),
    ]
    f = figures_compute(items=items)
    assert (f["n_images"], f["n_accepted"], f["n_distance"], f["n_sized"]) == (4, 3, 4, 3)
    assert f["refused_share"] == 0.25 and f["refusal_reasons"] == {"lateral view": 1}
    assert f["gate_distance_median"] == 1.5
    assert f["covid_mean"] == pytest.approx(0.3)
    assert f["share_covid"] == pytest.approx(1 / 3) and f["share_pneumonia"] == 0.0
    assert f["class_mix"] == {"covid": 1, "pneumonia": 0, "normal": 2}
    assert f["agreement"] == 0.5 and f["n_reviewed"] == 2
    assert f["side_median"] == 300.0
    assert f["size_mix"] == {"0-511": 3, "unknown": 1}
    assert f["format_mix"] == {"dicom": 1, "png": 3}
    assert f["modality_mix"] == {"DX": 1, "none": 3}


def test_figures_of_an_empty_day_are_none():
    f = figures_compute(items=[])
    assert f["n_images"] == 0
    assert all(f[name] is None for name in FIGURE_NAMES)


def test_side_buckets():
    assert side_bucket(width=100, height=600) == "512-1023"
    assert side_bucket(width=5000, height=10) == ">=4096"
    assert side_bucket(width=None, height=10) == "unknown"


def test_reference_keeps_each_figure_with_its_spread():
    items = [_item(gate_distance=0.5 + i / 100, width=200 + i) for i in range(100)]
    items += [_item(accepted=False, reason="blank image") for _ in range(10)]
    ref = reference_build(items=items, about={"model": "m"})
    assert ref["model"] == "m" and ref["counts"]["n_images"] == 110
    refused = ref["figures"]["refused_share"]
    assert refused["value"] == pytest.approx(10 / 110)
    assert refused["se1"] == pytest.approx(math.sqrt(10 / 110 * 100 / 110))
    median = ref["figures"]["gate_distance_median"]
    assert median["value"] == pytest.approx(1.0, abs=0.01) and 0 < median["se1"] < 1
    assert ref["figures"]["side_median"]["value"] is not None
    assert ref["distributions"]["gate_distance"]["p50"] == median["value"]
    assert ref["refusal_reasons"] == {"blank image": 10}


def test_reference_of_films_stored_at_one_size_does_not_band_their_size():
    items = [_item(width=256, height=256) for _ in range(30)] + [_item(width=300, height=10)]
    ref = reference_build(items=items, about={})
    assert ref["figures"]["side_median"]["value"] is None


def test_band_narrows_with_more_images_down_to_its_minimum_width():
    reference = {"value": 0.2, "se1": 0.4}
    wide = band_of(reference=reference, n=4, z=3.0, min_width=0.05)
    narrow = band_of(reference=reference, n=400, z=3.0, min_width=0.05)
    assert wide == pytest.approx((0.2 - 0.6, 0.2 + 0.6))
    assert narrow == pytest.approx((0.2 - 0.06, 0.2 + 0.06))
    floor = band_of(reference=reference, n=1_000_000, z=3.0, min_width=0.05)
    assert floor == pytest.approx((0.15, 0.25))
    relative = band_of(
        reference={"value": 300.0, "se1": 0.0}, n=10, z=3, min_width=0.25, relative=True
    )
    assert relative == pytest.approx((225.0, 375.0))
    assert band_of(reference={"value": None, "se1": 1.0}, n=10, z=3.0, min_width=0.1) is None
