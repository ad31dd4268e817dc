"""Grad-CAM: map class evidence back onto the radiograph.

Inference takes its maps from the classifier's own compiled pass (exact for GAP + linear
heads); `gradcam_tape` is the classic keras-io GradientTape form that tests check them against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from mlcore.preprocess import Preprocessed


def cam_normalise(*, cam: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum (all-zero stays zero)."""
    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0.0)
    peak = float(cam.max()) if cam.size else 0.0
    return cam / peak if peak > 0 else np.zeros_like(cam)


def gradcam_tape(
    *, model: Any, image: np.ndarray, class_index: int, layer: str = "cam_features"
) -> np.ndarray:
    """Classic Grad-CAM (keras-io): pooled gradients of the logit weight the feature maps."""
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output["disease"]])
    x = tf.convert_to_tensor(np.asarray(image, np.float32).reshape(1, *image.shape[:2], 1))
    with tf.GradientTape() as tape:
        fmap, logits = grad_model(x, training=False)
        score = logits[:, class_index]
    grads = tape.gradient(score, fmap)
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))
    cam = tf.nn.relu(tf.reduce_sum(fmap[0] * weights, axis=-1))
    return cam.numpy().astype(np.float32)


def heatmap_to_source(*, cam: np.ndarray, prep: Preprocessed, max_side: int = 512) -> np.ndarray:
    """Map a model-space (h, w) CAM onto the source image frame, longer side <= max_side."""
    size = prep.array.shape[0]
    up = np.asarray(
        Image.fromarray(np.asarray(cam, np.float32), mode="F").resize(
            (size, size), Image.Resampling.BILINEAR
        )
    )
    ct, cl, cb, cr = prep.content_box
    content = up[ct:cb, cl:cr]
    h, w = prep.source_shape
    scale = min(1.0, max_side / max(h, w))
    oh, ow = max(1, round(h * scale)), max(1, round(w * scale))
    top, left, bottom, right = prep.crop_box
    y0, x0 = round(top * scale), round(left * scale)
    y1, x1 = max(y0 + 1, round(bottom * scale)), max(x0 + 1, round(right * scale))
    y1, x1 = min(y1, oh), min(x1, ow)
    out = np.zeros((oh, ow), dtype=np.float32)
    out[y0:y1, x0:x1] = np.asarray(
        Image.fromarray(np.ascontiguousarray(content), mode="F").resize(
            (x1 - x0, y1 - y0), Image.Resampling.BILINEAR
        )
    )
    return cam_normalise(cam=out)
