"""Run the lung-field U-Net in one compiled pass (TensorFlow imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcore.classifier import keras_model_load
from mlcore.errors import ModelUnavailableError
from mlcore.lungs import SEGMENTER_FILENAME, lung_box, segmenter_input_prepare


class LungBoxFinder:
    """`box_of` for any segmenter with `run(batch=...)`: the Keras one and mlcore.compiled's."""

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def box_of(self, *, pixels: np.ndarray) -> tuple[int, int, int, int] | None:
        """The lung box of one grey film in its own frame (None when no fields are found)."""
        prep = segmenter_input_prepare(pixels=pixels)
        return lung_box(probability=self.run(batch=prep.array[None])[0], prep=prep)


class LungSegmenter(LungBoxFinder):
    """A loaded `lungs.keras`, BN-folded, behind a fixed-signature `tf.function`."""

    def __init__(self, *, model: Any) -> None:
        import tensorflow as tf

        from mlcore.fold import batchnorm_fold

        try:
            net = batchnorm_fold(model=model)
        except ValueError as exc:
            raise ModelUnavailableError(f"lung segmenter is not usable: {exc}") from exc
        self.input_size = int(model.input_shape[1])
        size = self.input_size

        @tf.function(
            input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32)],
            reduce_retracing=True,
        )
        def forward(x):
            return net(x, training=False)[..., 0]

        # The compiled pass, fixed signature: mlcore.compiled converts it as it is.
        self.forward = forward

    @classmethod
    def load(cls, *, folder: Path) -> LungSegmenter | None:
        """Load the folder's segmenter; None when the model ships without one."""
        path = folder / SEGMENTER_FILENAME
        if not path.is_file():
            return None
        return cls(model=keras_model_load(path=path))

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        """(B, S, S) probabilities for a (B, S, S) float32 batch of prepared inputs."""
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., None]
        return self.forward(x).numpy()
