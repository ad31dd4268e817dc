"""Input gate: every rule reason, the learned part, and its thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.gate import (
    GateThresholds,
    gate_learned_check,
    gate_rules_check,
    thresholds_from_dict,
)
from mlcore.labels import GATE_LABELS
from mlcore.testing import arrays

T = GateThresholds()
LABELS = list(GATE_LABELS)


def reason(pixels, dicom=None):
    return gate_rules_check(pixels=pixels, thresholds=T, dicom=dicom).reason


def test_chest_like_passes_rules():
    assert reason(arrays.chest_like_array(size=(256, 256), seed=0)) is None


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (arrays.colour_photo_like_image(size=(200, 240), seed=1), "colour photograph"),
        (arrays.tiny_image(size=(40, 40), seed=1), "image too small"),
        (arrays.extreme_aspect_image(size=(100, 800), seed=1), "extreme aspect ratio"),
        (arrays.blank_image(size=(200, 200), level=0.7), "blank image"),
        (arrays.noise_image(size=(200, 200), seed=1), "noise image"),
        (arrays.document_image(size=(300, 220), seed=1), "document or screenshot"),
    ],
)
def test_rule_reasons(pixels, expected):
    assert reason(pixels) == expected


@pytest.mark.parametrize(
    ("dicom", "expected"),
    [
        ({"Modality": "CT"}, "CT or MR slice"),
        ({"Modality": "mr"}, "CT or MR slice"),
        ({"Modality": "US"}, "ultrasound image"),
        ({"Modality": "MG"}, "mammogram"),
        ({"Modality": "PX"}, "radiograph of another body part"),
        ({"Modality": "XC"}, "colour photograph"),
        ({"Modality": "DX", "BodyPartExamined": "PELVIS"}, "radiograph of another body part"),
        ({"Modality": "CR", "BodyPartExamined": "knee "}, "radiograph of another body part"),
        ({"Modality": "DX", "BodyPartExamined": "CHEST", "ViewPosition": "LL"}, "lateral view"),
        ({"Modality": "CR", "ViewPosition": "RL"}, "lateral view"),
    ],
)
def test_what_the_dicom_header_says_names_the_refusal(dicom, expected):
    img = arrays.chest_like_array(size=(256, 256), seed=0)
    assert reason(img, dicom=dicom) == expected


@pytest.mark.parametrize(
    "dicom",
    [
        {"Modality": "DX", "BodyPartExamined": "CHEST", "ViewPosition": "PA"},
        {"Modality": "CR", "BodyPartExamined": "THORAX", "ViewPosition": "AP"},
        # Trunk terms can hold a chest film: the pixels decide.
        {"Modality": "DX", "BodyPartExamined": "ABDOMEN", "ViewPosition": "AP"},
        {"Modality": "CR", "BodyPartExamined": "", "ViewPosition": ""},
        {"Modality": "OT"},
    ],
)
def test_a_chest_film_header_passes_the_header_check(dicom):
    assert reason(arrays.chest_like_array(size=(256, 256), seed=0), dicom=dicom) is None


@pytest.mark.parametrize(
    ("winner", "expected"),
    [
        (1, "lateral view"),
        (2, "not a chest radiograph"),
        (3, "CT or MR slice"),
        (4, "not a chest radiograph"),
    ],
)
def test_learned_reason_maps_winning_class(winner, expected):
    probs = np.full(5, 0.05)
    probs[winner] = 0.8
    d = gate_learned_check(
        gate_probabilities=probs, gate_labels=LABELS, mahalanobis_sq=1.0, thresholds=T
    )
    assert not d.accepted and d.reason == expected


def test_learned_mahalanobis_refuses_unfamiliar():
    t = thresholds_from_dict(data={"mahalanobis_max": 10.0, "frontal_min": 0.5})
    probs = np.array([0.9, 0.025, 0.025, 0.025, 0.025])
    ok = gate_learned_check(
        gate_probabilities=probs, gate_labels=LABELS, mahalanobis_sq=5.0, thresholds=t
    )
    far = gate_learned_check(
        gate_probabilities=probs, gate_labels=LABELS, mahalanobis_sq=50.0, thresholds=t
    )
    assert ok.accepted and not far.accepted and far.reason == "not a chest radiograph"


def test_thresholds_roundtrip_ignores_unknown_keys():
    t = thresholds_from_dict(data={**T.to_dict(), "future_key": 1})
    assert t == T


def test_tiny_model_gate_accepts_toy_chests_refuses_synthetic(tiny_screener, toy_images):
    accepted = [
        tiny_screener.screen_array(pixels=img).accepted
        for imgs in toy_images.values()
        for img in imgs
    ]
    assert np.mean(accepted) >= 0.9
    negatives = arrays.negative_samples(n=30, seed=3, size=(200, 220))
    refused = [not tiny_screener.screen_array(pixels=px).accepted for _, px in negatives]
    assert np.mean(refused) >= 0.9
