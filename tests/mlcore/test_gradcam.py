"""Grad-CAM: the one-pass CAM equals the GradientTape version; maps and overlays."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mlcore.gradcam import cam_normalise, gradcam_tape, heatmap_to_source
from mlcore.overlay import overlay_jpeg
from mlcore.preprocess import radiograph_preprocess


def test_one_pass_cam_equals_gradient_tape(tiny_screener, tiny_network, toy_images):
    clf = tiny_screener.classifier
    checked = 0
    for imgs in toy_images.values():
        x = radiograph_preprocess(pixels=imgs[0], size=clf.input_size).array
        out = clf.run(batch=x[None])
        for c in range(3):
            tape = cam_normalise(cam=gradcam_tape(model=tiny_network, image=x, class_index=c))
            fast = cam_normalise(cam=out.cams[0, :, :, c])
            if tape.max() == 0 and fast.max() == 0:
                continue
            np.testing.assert_allclose(fast, tape, atol=1e-4)
            checked += 1
    assert checked >= 3


def test_heatmap_maps_to_source_aspect(tiny_screener, toy_images):
    img = np.pad(toy_images["covid"][0], ((10, 10), (40, 40)))  # borders get cropped
    prep = radiograph_preprocess(pixels=img, size=tiny_screener.classifier.input_size)
    cam = tiny_screener.classifier.run(batch=prep.array[None]).cams[0, :, :, 0]
    hm = heatmap_to_source(cam=cam, prep=prep, max_side=512)
    assert hm.shape == img.shape  # smaller than 512: source size
    assert hm.min() >= 0 and hm.max() <= 1
    big = np.zeros((1200, 900), np.float32) + 0.01
    big[100:1060, 50:850] = np.kron(toy_images["covid"][0][:80, :80], np.ones((12, 10)))
    prep = radiograph_preprocess(pixels=big, size=tiny_screener.classifier.input_size)
    hm = heatmap_to_source(cam=np.ones((4, 4), np.float32), prep=prep, max_side=512)
    assert hm.shape == (512, 384)
    assert hm[:30].max() == 0  # cropped border has no evidence


def test_overlay_jpeg_decodes(toy_images):
    img = toy_images["normal"][0]
    hm = np.linspace(0, 1, img.size, dtype=np.float32).reshape(img.shape)
    jpeg = overlay_jpeg(pixels=img, heatmap=hm)
    decoded = Image.open(io.BytesIO(jpeg))
    assert decoded.format == "JPEG" and decoded.mode == "RGB"
    assert decoded.size == (img.shape[1], img.shape[0])
