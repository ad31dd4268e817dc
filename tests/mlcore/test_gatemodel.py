"""Gate 2 and the lung fields inside the Screener: reasons, evidence share, outline, loading."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import ModelUnavailableError
from mlcore.gate import GateThresholds
from mlcore.gatemodel import (
    EVIDENCE_COUNT,
    GATE_MODEL_FILENAME,
    REASON_MAMMOGRAM,
    REASON_NO_LUNGS,
    REASON_OTHER_PART,
    REASON_UNFAMILIAR,
    GateModel,
    gate_model_check,
    gate_model_load,
)
from mlcore.lungs import LungFields, segmenter_input_prepare
from mlcore.overlay import LUNG_OUTLINE_RGB
from mlcore.pipeline import Screener
from tests.mlcore.test_lungs import two_fields

KINDS = ("frontal_cxr", "mammogram", "other_radiograph")


def gate_of(*, winner: int, features: int = 8) -> GateModel:
    """A gate whose bias alone picks `winner` among KINDS."""
    bias = np.full(len(KINDS), -5.0, np.float32)
    bias[winner] = 5.0
    return GateModel(
        feature_mean=np.zeros(features, np.float32),
        components=np.eye(4, features, dtype=np.float32),
        component_scale=np.ones(4, np.float32),
        evidence_mean=np.zeros(EVIDENCE_COUNT, np.float32),
        evidence_scale=np.ones(EVIDENCE_COUNT, np.float32),
        weights=np.zeros((4 + EVIDENCE_COUNT, len(KINDS)), np.float32),
        bias=bias,
        kinds=KINDS,
    )


def fields_of(*, share: float) -> LungFields:
    return LungFields(2, share, share, 2 * share, (0.5, 0.3), (0.5, 0.7), 0.6, 0.6, 0.9)


THRESHOLDS = GateThresholds(frontal_min=0.5, mahalanobis_max=10.0, lung_side_min=0.05)


def test_reason_names_the_kind():
    decision = gate_model_check(
        model=gate_of(winner=1),
        features=np.zeros(8),
        fields=fields_of(share=0.1),
        image_stats={},
        thresholds=THRESHOLDS,
    )
    assert not decision.accepted and decision.reason == REASON_MAMMOGRAM
    assert decision.scores["p_mammogram"] > 0.99


@pytest.mark.parametrize(("share", "reason"), [(0.0, REASON_NO_LUNGS), (0.1, REASON_OTHER_PART)])
def test_other_radiograph_is_named_by_its_lung_fields(share, reason):
    decision = gate_model_check(
        model=gate_of(winner=2),
        features=np.zeros(8),
        fields=fields_of(share=share),
        image_stats={"std": 0.2},
        thresholds=THRESHOLDS,
    )
    assert decision.reason == reason


def test_frontal_film_accepted_unless_unfamiliar():
    kwargs = {
        "model": gate_of(winner=0),
        "fields": fields_of(share=0.1),
        "image_stats": {},
        "thresholds": THRESHOLDS,
    }
    assert gate_model_check(features=np.zeros(8), **kwargs).accepted
    far = gate_model_check(features=np.full(8, 3.0), **kwargs)
    assert not far.accepted and far.reason == REASON_UNFAMILIAR


def test_novelty_refuses_a_rare_image_and_names_why():
    gate = replace(
        gate_of(winner=0),
        reference_log_frontal=np.log(np.linspace(0.6, 1.0, 99, dtype=np.float32)),
        reference_residual=np.linspace(0.0, 1.0, 99, dtype=np.float32),
    )
    kwargs = {"model": gate, "fields": fields_of(share=0.1), "image_stats": {}}
    thresholds = replace(THRESHOLDS, novelty_min=float(np.log(0.05)))
    usual = gate_model_check(features=np.zeros(8), thresholds=thresholds, **kwargs)
    assert usual.accepted and usual.scores["novelty_log"] > np.log(0.05)
    # Off the principal axes (features 4-7): a residual no val film had.
    odd = np.zeros(8, np.float32)
    odd[6] = 3.0
    refused = gate_model_check(features=odd, thresholds=thresholds, **kwargs)
    assert not refused.accepted and refused.reason == REASON_UNFAMILIAR
    assert gate_model_check(features=odd, thresholds=THRESHOLDS, **kwargs).accepted


def texture_gate(*, columns: int = 6) -> GateModel:
    """A frontal-only gate with a texture term: identity precision, val distances 0-10."""
    return replace(
        gate_of(winner=0),
        reference_log_frontal=np.log(np.linspace(0.6, 1.0, 99, dtype=np.float32)),
        reference_residual=np.linspace(0.0, 1.0, 99, dtype=np.float32),
        texture_index=np.arange(columns, dtype=np.int32),
        texture_mean=np.zeros(columns, np.float32),
        texture_scale=np.ones(columns, np.float32),
        texture_precision=np.eye(columns, dtype=np.float32),
        reference_texture=np.linspace(0.0, 10.0, 99, dtype=np.float32),
    )


def test_the_texture_term_refuses_a_texture_no_chest_film_had():
    gate = texture_gate()
    kwargs = {"model": gate, "fields": fields_of(share=0.1), "image_stats": {}}
    thresholds = replace(THRESHOLDS, novelty_min=float(np.log(0.05)))
    usual = gate_model_check(
        features=np.zeros(8), texture=np.full(6, 0.5), thresholds=thresholds, **kwargs
    )
    assert usual.accepted and usual.scores["novelty_texture_log"] > np.log(0.5)
    # Features like a chest film's, middle layers far from every one (speckle, say).
    odd = gate_model_check(
        features=np.zeros(8), texture=np.full(6, 4.0), thresholds=thresholds, **kwargs
    )
    assert not odd.accepted and odd.reason == REASON_UNFAMILIAR
    assert odd.scores["novelty_texture_log"] < np.log(0.05)
    # A gate fitted with the term never runs without it: its bar would let more in.
    with pytest.raises(ModelUnavailableError, match="texture"):
        gate_model_check(features=np.zeros(8), thresholds=thresholds, **kwargs)


def test_the_texture_term_reads_its_columns_and_survives_the_file(tmp_path):
    gate = replace(texture_gate(columns=3), texture_index=np.array([0, 2, 4], np.int32))
    gate.save(path=tmp_path / GATE_MODEL_FILENAME)
    loaded = gate_model_load(path=tmp_path / GATE_MODEL_FILENAME)
    assert loaded.texture_index.tolist() == [0, 2, 4]
    rows = np.array([[1.0, 9.0, 1.0, 9.0, 1.0, 9.0]], np.float32)
    assert loaded.texture_distance(texture=rows).tolist() == [3.0]
    assert loaded.texture_distance(texture=None) is None
    assert gate_of(winner=0).texture_distance(texture=rows) is None


def test_gate_file_round_trip_is_small(tmp_path):
    gate = replace(gate_of(winner=0, features=1280), components=np.ones((64, 1280), np.float32))
    gate = replace(gate, component_scale=np.ones(64, np.float32))
    gate = replace(gate, weights=np.zeros((64 + EVIDENCE_COUNT, 3), np.float32))
    gate = replace(gate, reference_residual=np.arange(2000, 0, -1, dtype=np.float32))
    gate.save(path=tmp_path / GATE_MODEL_FILENAME)
    assert (tmp_path / GATE_MODEL_FILENAME).stat().st_size < 200_000
    loaded = gate_model_load(path=tmp_path / GATE_MODEL_FILENAME)
    assert loaded.kinds == KINDS and loaded.components.shape == (64, 1280)
    assert loaded.reference_log_frontal is None
    assert (np.diff(loaded.reference_residual) >= 0).all()  # kept sorted for ranking
    assert gate_model_load(path=tmp_path / "missing.npz") is None


class TwoFieldSegmenter:
    """Stands in for the U-Net: two lung-shaped fields on every film."""

    input_size = 128

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        return np.stack([two_fields() for _ in batch])


@pytest.fixture
def lung_screener(tiny_screener):
    return Screener(
        classifier=tiny_screener.classifier,
        card=tiny_screener.card,
        gate_mean=tiny_screener.gate_mean,
        gate_precision=tiny_screener.gate_precision,
        segmenter=TwoFieldSegmenter(),
    )


def test_screen_reports_evidence_inside_the_lungs(lung_screener, toy_images):
    film = np.kron(toy_images["covid"][0], np.ones((4, 4), np.float32))
    result = lung_screener.screen_array(pixels=film)
    assert result.accepted
    assert result.lung_fields.fields == 2
    assert 0.0 <= result.evidence_in_lungs <= 1.0
    assert result.evidence_outside_lungs == (result.evidence_in_lungs < 0.5)
    assert result.timings_ms["lungs"] >= 0
    overlay = np.asarray(Image.open(io.BytesIO(result.overlay_jpeg)).convert("RGB"), np.int16)
    near_outline = np.abs(overlay - np.array(LUNG_OUTLINE_RGB)).sum(axis=2) < 90
    assert near_outline.mean() > 0.002


def test_screen_without_segmenter_leaves_lung_fields_empty(tiny_screener, toy_images):
    result = tiny_screener.screen_array(pixels=toy_images["covid"][0])
    assert result.evidence_in_lungs is None and result.lung_fields is None
    assert result.evidence_outside_lungs is False


def test_segmenter_loads_and_matches_keras(tmp_path):
    from mlcore.segmenter import LungSegmenter
    from training.segment import unet_build

    model = unet_build(width=2)
    model.save(tmp_path / "lungs.keras")
    segmenter = LungSegmenter.load(folder=tmp_path)
    prep = segmenter_input_prepare(pixels=np.random.default_rng(3).random((150, 140)))
    got = segmenter.run(batch=prep.array[None])
    want = model.predict(prep.array[None, ..., None], verbose=0)[..., 0]
    assert got.shape == (1, 128, 128)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert LungSegmenter.load(folder=tmp_path / "none") is None
