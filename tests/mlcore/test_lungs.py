"""Lung fields: measures, mapping to the film, evidence inside them, outline and crop box."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.lungs import (
    FIELD_MIN_SHARE,
    LUNG_FEATURE_COUNT,
    evidence_in_lungs_share,
    lung_box,
    lung_fields_measure,
    lung_fields_plausible,
    mask_outline,
    mask_to_source,
    segmenter_input_prepare,
)


def two_fields(*, size: int = 128, gap: float = 0.5) -> np.ndarray:
    """A (size, size) probability map with two upright ellipses, one each side."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    left = ((xx - 0.5 + gap / 2) / 0.14) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
    right = ((xx - 0.5 - gap / 2) / 0.14) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
    return (left | right).astype(np.float32) * 0.9


@pytest.fixture
def square_prep():
    return segmenter_input_prepare(pixels=np.random.default_rng(0).random((256, 256)))


def test_two_fields_are_measured_per_side(square_prep):
    fields = lung_fields_measure(probability=two_fields(), prep=square_prep)
    assert fields.fields == 2
    assert fields.left_share == pytest.approx(fields.right_share, rel=0.05)
    assert 0.1 < fields.left_share < 0.2
    assert fields.left_centroid[1] < 0.5 < fields.right_centroid[1]
    assert fields.left_height == pytest.approx(0.6, abs=0.03)
    assert fields.confidence == pytest.approx(0.9)
    assert fields.features().shape == (LUNG_FEATURE_COUNT,)


def test_empty_map_has_no_fields(square_prep):
    fields = lung_fields_measure(probability=np.zeros((128, 128), np.float32), prep=square_prep)
    assert fields.fields == 0 and fields.left_share == 0 and fields.confidence == 0
    assert not lung_fields_plausible(fields=fields, side_min=0.05, side_max=0.3)


def test_one_central_blob_is_not_two_lungs(square_prep):
    blob = two_fields(gap=0.0)
    fields = lung_fields_measure(probability=blob, prep=square_prep)
    assert fields.fields == 1
    assert not lung_fields_plausible(fields=fields, side_min=0.05, side_max=0.3)


def test_specks_do_not_count(square_prep):
    speck = np.zeros((128, 128), np.float32)
    speck[10:12, 10:12] = 1.0
    assert FIELD_MIN_SHARE > 4 / 128**2
    assert lung_fields_measure(probability=speck, prep=square_prep).fields == 0


def test_mask_maps_back_through_crop_and_padding():
    # A wide film: the segmenter input is padded top and bottom; the map must land on the film.
    film = np.random.default_rng(1).random((200, 400)).astype(np.float32)
    prep = segmenter_input_prepare(pixels=film)
    ct, cl, cb, cr = prep.content_box
    assert ct > 0 and cl == 0
    probability = np.zeros((128, 128), np.float32)
    probability[ct:cb, cl : (cl + cr) // 2] = 1.0  # the left half of the content
    mask = mask_to_source(probability=probability, prep=prep, shape=(100, 200))
    assert mask[:, :95].mean() > 0.95 and mask[:, 105:].mean() < 0.05


def test_evidence_share():
    heat = np.zeros((10, 10), np.float32)
    heat[:, :5] = 1.0
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True
    assert evidence_in_lungs_share(heatmap=heat, mask=mask) == pytest.approx(1.0)
    assert evidence_in_lungs_share(heatmap=heat, mask=~mask) == pytest.approx(0.0)
    assert evidence_in_lungs_share(heatmap=np.zeros((10, 10)), mask=mask) is None


def test_outline_is_the_boundary():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    outline = mask_outline(mask=mask)
    assert outline.sum() == 36 and not outline[7:13, 7:13].any()


def test_lung_box_wraps_the_fields(square_prep):
    box = lung_box(probability=two_fields(), prep=square_prep, margin=0.0)
    top, left, bottom, right = box
    assert top == pytest.approx(0.2 * 256, abs=4) and bottom == pytest.approx(0.8 * 256, abs=4)
    assert left < 0.15 * 256 and right > 0.85 * 256
    assert lung_box(probability=np.zeros((128, 128)), prep=square_prep) is None
