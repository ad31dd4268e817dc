"""Preprocessing: grayscale, border crop, square fit, normalisation."""

from __future__ import annotations

import time

import numpy as np

from mlcore.preprocess import (
    border_crop_box,
    grayscale_convert,
    intensity_normalise,
    radiograph_preprocess,
)
from mlcore.testing.arrays import chest_like_array


def test_grayscale_of_grey_rgb_equals_grey():
    grey = chest_like_array(size=(120, 100), seed=1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_allclose(grayscale_convert(pixels=rgb), grey, atol=1e-5)


def test_border_crop_removes_constant_frame():
    img = np.zeros((200, 300), np.float32)
    img[20:180, 50:250] = chest_like_array(size=(160, 200), seed=2)
    top, left, bottom, right = border_crop_box(gray=img)
    assert abs(top - 20) <= 2 and abs(bottom - 180) <= 2
    assert abs(left - 50) <= 2 and abs(right - 250) <= 2


def test_output_shape_dtype_and_normalisation():
    img = chest_like_array(size=(256, 320), seed=3)
    p = radiograph_preprocess(pixels=img, size=128)
    assert p.array.shape == (128, 128) and p.array.dtype == np.float32
    ct, cl, cb, cr = p.content_box
    assert (cr - cl) == 128 and 90 <= (cb - ct) <= 110  # landscape: aspect kept, padded
    content = p.array[ct:cb, cl:cr]
    assert abs(float(content.mean())) < 0.3
    assert np.all(p.array[:ct] == 0) and np.abs(p.array).max() <= 3.0


def test_normalisation_is_brightness_and_contrast_invariant():
    img = chest_like_array(size=(200, 200), seed=4)
    a = intensity_normalise(content=img)
    b = intensity_normalise(content=0.2 + 0.5 * img)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_fast():
    img = chest_like_array(size=(256, 300), seed=5)
    radiograph_preprocess(pixels=img)
    t = time.perf_counter()
    for _ in range(10):
        radiograph_preprocess(pixels=img)
    assert (time.perf_counter() - t) / 10 < 0.02  # ~2 ms idle; loose for shared CI machines
