"""Run the two-head CNN: calibrated probabilities, gate scores, features and CAMs in one pass.

Under GAP -> linear head, d logit_c / d A_k(i, j) = w_kc / (H W) everywhere, so Grad-CAM is
exactly relu(sum_k w_kc A_k) up to scale: no gradient pass is needed. TensorFlow is imported
lazily so that importing mlcore stays cheap.
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


@dataclass(frozen=True)
class ClassifierOutput:
    """Outputs for a batch of B images."""

    probabilities: np.ndarray  # (B, 3) calibrated
    logits: np.ndarray  # (B, 3) uncalibrated
    gate_probabilities: np.ndarray  # (B, G)
    features: np.ndarray  # (B, K) pooled last-conv features
    cams: np.ndarray  # (B, h, w, 3) un-normalised class activation maps (>= 0)


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

    def __init__(self, *, model: Any, temperature: float = 1.0) -> None:
        import keras
        import tensorflow as tf

        try:
            cam_out = model.get_layer(CAM_LAYER).output
            self._disease = model.get_layer(DISEASE_LAYER)
            self._gate = model.get_layer(GATE_LAYER)
        except ValueError as exc:
            raise ModelUnavailableError(f"model lacks the expected layers: {exc}") from exc
        self.model = model
        self.input_size = int(model.input_shape[1])
        self.temperature = float(temperature)
        self._trunk = keras.Model(model.inputs, cam_out, name="trunk")
        size = self.input_size
        inv_t = tf.constant(1.0 / self.temperature, tf.float32)

        @tf.function(
            input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32)],
            reduce_retracing=True,
        )
        def forward(x):
            fmap = self._trunk(x, training=False)
            pooled = tf.reduce_mean(fmap, axis=[1, 2])
            logits = self._disease(pooled)
            gate = tf.nn.softmax(self._gate(pooled))
            probs = tf.nn.softmax(logits * inv_t)
            kernel = tf.convert_to_tensor(self._disease.kernel)
            cams = tf.nn.relu(tf.einsum("bhwk,kc->bhwc", fmap, kernel))
            return probs, logits, gate, pooled, cams

        self._forward = forward

    def run(self, *, batch: np.ndarray) -> ClassifierOutput:
        """Run a (B, S, S) or (B, S, S, 1) float32 batch."""
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., None]
        probs, logits, gate, pooled, cams = self._forward(x)
        return ClassifierOutput(
            probabilities=probs.numpy(),
            logits=logits.numpy(),
            gate_probabilities=gate.numpy(),
            features=pooled.numpy(),
            cams=cams.numpy(),
        )

    def run_chunked(self, *, batch: np.ndarray, chunk: int = 64) -> ClassifierOutput:
        """Run a large array in chunks (bounded memory), concatenating the outputs."""
        parts = [self.run(batch=batch[i : i + chunk]) for i in range(0, len(batch), chunk)]
        if not parts:
            raise ValueError("empty batch")
        return ClassifierOutput(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ClassifierOutput.__dataclass_fields__
            )
        )
