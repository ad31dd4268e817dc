"""Run the two-head CNN: calibrated probabilities, gate scores, features and CAMs in one pass.

Under GAP -> linear head, d logit_c / d A_k(i, j) = w_kc / (H W) everywhere, so Grad-CAM is
exactly relu(sum_k w_kc A_k) up to scale: no gradient pass is needed. TensorFlow is imported
lazily so that importing mlcore stays cheap.

With `view_shift` > 0 every image runs as two copies moved by +s and -s pixels along both
axes, in the same batch, and the outputs are averaged: a small test-time ensemble over the
trunk's stride-16 sampling grid (docs/model-experiments.md measured it on val and test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.errors import ModelUnavailableError

CAM_LAYER = "cam_features"
DISEASE_LAYER = "disease"
GATE_LAYER = "gate"
# Middle layers whose per-channel means and spreads gate 2's texture novelty reads: texture
# (speckle, grain, edges) is still visible there. An ensemble's first member names its own
# layers "m0_", the start it shares "shared_".
TEXTURE_BLOCKS = ("block2_add", "block4_add", "block7_add", "block10_add")
TEXTURE_PREFIXES = ("", "shared_", "m0_")


@dataclass(frozen=True)
class ClassifierOutput:
    """Outputs for a batch of B images."""

    probabilities: np.ndarray  # (B, 3) calibrated
    logits: np.ndarray  # (B, 3) uncalibrated
    gate_probabilities: np.ndarray  # (B, G)
    features: np.ndarray  # (B, K) pooled last-conv features
    cams: np.ndarray  # (B, h, w, 3) un-normalised class activation maps (>= 0)
    # (B, T) the TEXTURE_BLOCKS' per-channel means, then their standard deviations; None for a
    # network without those layers.
    texture: np.ndarray | None = None


def texture_layers_find(*, net: Any) -> list[str]:
    """The names of `net`'s TEXTURE_BLOCKS, all of them or none."""
    names = {layer.name for layer in net.layers}
    found = [
        next((p + block for p in TEXTURE_PREFIXES if p + block in names), None)
        for block in TEXTURE_BLOCKS
    ]
    return [name for name in found if name] if all(found) else []


def keras_model_load(*, path: Path) -> Any:
    """Load a .keras file without compiling; raise ModelUnavailableError if unreadable."""
    if not path.is_file():
        raise ModelUnavailableError(f"model file not found: {path}")
    try:
        import keras

        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise ModelUnavailableError(f"model file is unreadable: {path}: {exc}") from exc


class Classifier:
    """Wrap a trained Keras model in one compiled forward function with a fixed signature."""

    def __init__(self, *, model: Any, temperature: float = 1.0, view_shift: int = 0) -> None:
        import keras
        import tensorflow as tf

        from mlcore.fold import batchnorm_fold

        try:
            net = batchnorm_fold(model=model)
            cam_out = net.get_layer(CAM_LAYER).output
            self._disease = net.get_layer(DISEASE_LAYER)
            self._gate = net.get_layer(GATE_LAYER)
        except ValueError as exc:
            raise ModelUnavailableError(f"model lacks the expected layers: {exc}") from exc
        # Only the BN-folded copy is kept: holding the model as loaded too cost the worker a
        # second set of weights (29 MB for cxr-v3's two networks, measured).
        self.input_size = int(model.input_shape[1])
        self.temperature = float(temperature)
        self.view_shift = int(view_shift)
        if not 0 <= self.view_shift < self.input_size // 4:
            raise ModelUnavailableError(f"view_shift {view_shift} is out of range")
        texture_layers = texture_layers_find(net=net)
        texture_outs = [net.get_layer(name).output for name in texture_layers]
        trunk_outs = [cam_out, *texture_outs] if texture_outs else cam_out
        self._trunk = keras.Model(net.inputs, trunk_outs, name="trunk")
        size = self.input_size
        inv_t = tf.constant(1.0 / self.temperature, tf.float32)

        shift = self.view_shift

        def views_make(x):
            """(B, S, S, 1) -> (2B, S, S, 1): copies moved by +shift and -shift, zero-filled."""
            if not shift:
                return x
            padded = tf.pad(x, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
            plus = padded[:, :size, :size]
            minus = padded[:, 2 * shift : 2 * shift + size, 2 * shift : 2 * shift + size]
            return tf.concat([plus, minus], axis=0)

        def views_mean(t):
            """Average the two views' rows back to one row per image."""
            if not shift:
                return t
            plus, minus = tf.split(t, 2, axis=0)
            return (plus + minus) / 2.0

        @tf.function(
            input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32)],
            reduce_retracing=True,
        )
        def forward(x):
            ran = self._trunk(views_make(x), training=False)
            fmap, *middle = ran if texture_outs else (ran,)
            pooled = tf.reduce_mean(fmap, axis=[1, 2])
            logits = views_mean(self._disease(pooled))
            gate = tf.nn.softmax(views_mean(self._gate(pooled)))
            probs = tf.nn.softmax(logits * inv_t)
            kernel = tf.convert_to_tensor(self._disease.kernel)
            # The two views' maps are offset by +-s/16 cell, so their mean is centred again.
            cams = views_mean(tf.nn.relu(tf.einsum("bhwk,kc->bhwc", fmap, kernel)))
            outputs = (probs, logits, gate, views_mean(pooled), cams)
            if not middle:
                return outputs
            means = [tf.reduce_mean(m, axis=[1, 2]) for m in middle]
            spreads = [tf.math.reduce_std(m, axis=[1, 2]) for m in middle]
            return (*outputs, views_mean(tf.concat(means + spreads, axis=1)))

        # The compiled pass, fixed signature: mlcore.compiled converts it as it is.
        self.forward = forward

    def run(self, *, batch: np.ndarray) -> ClassifierOutput:
        """Run a (B, S, S) or (B, S, S, 1) float32 batch."""
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., None]
        return ClassifierOutput(*(t.numpy() for t in self.forward(x)))

    def run_chunked(self, *, batch: np.ndarray, chunk: int = 64) -> ClassifierOutput:
        """Run a large array in chunks (bounded memory), concatenating the outputs."""
        parts = [self.run(batch=batch[i : i + chunk]) for i in range(0, len(batch), chunk)]
        if not parts:
            raise ValueError("empty batch")
        return ClassifierOutput(
            *(
                None
                if getattr(parts[0], f) is None
                else np.concatenate([getattr(p, f) for p in parts])
                for f in ClassifierOutput.__dataclass_fields__
            )
        )
