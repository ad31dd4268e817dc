"""The records an image passes through inside the pipeline (mlcore.pipeline.Screener)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mlcore.preprocess import Preprocessed


class DecodedImage(NamedTuple):
    """An image as decoded, before the gate."""

    pixels: np.ndarray
    is_colour: bool | None
    dicom: dict[str, str] | None
    timings: dict[str, float]


class StagedImage(NamedTuple):
    """An image that passed the gate's rules, preprocessed and waiting for the classifier."""

    index: int
    pixels: np.ndarray
    prep: Preprocessed | None  # the classifier's input, made once the lung fields are known
    timings: dict[str, float]
    scores: dict[str, float]
    lung_prep: Preprocessed | None
