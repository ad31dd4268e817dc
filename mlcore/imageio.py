"""Decode PNG, JPEG and DICOM bytes into one normalised float array.

CONTRACT (other packages rely on these names and shapes; keep them):
- image_sniff(*, data) -> "png" | "jpeg" | "dicom" | None, from magic bytes only.
- image_decode(*, data, max_pixels=..., min_side=...) -> DecodedImage or raises
  mlcore.errors.ImageError subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ImageFormat = Literal["png", "jpeg", "dicom"]

MAX_PIXELS_DEFAULT = 40_000_000
MIN_SIDE_DEFAULT = 64


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: `pixels` is float32, values in [0, 1], white = dense (bone)."""

    pixels: np.ndarray  # (H, W) grayscale or (H, W, 3) when the source was colour
    format: ImageFormat
    width: int
    height: int
    bits_stored: int
    is_colour: bool
    dicom: dict[str, str] = field(default_factory=dict)  # Modality, BodyPartExamined, ViewPosition, ...


def image_sniff(*, data: bytes) -> ImageFormat | None:
    """Return the format from the file's magic bytes, never from its name."""
    raise NotImplementedError


def image_decode(
    *, data: bytes, max_pixels: int = MAX_PIXELS_DEFAULT, min_side: int = MIN_SIDE_DEFAULT
) -> DecodedImage:
    """Decode `data`; raise an ImageError subclass naming the problem."""
    raise NotImplementedError
