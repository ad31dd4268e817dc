"""Shared types, limits and checks for the image decoders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mlcore.errors import ImageTooLargeError, ImageTooSmallError
from mlcore.preprocess import grayscale_convert

ImageFormat = Literal["png", "jpeg", "dicom"]

MAX_PIXELS_DEFAULT = 40_000_000
MIN_SIDE_DEFAULT = 64
# Mean channel spread (0..1) above which an RGB image counts as real colour; JPEG noise on
# greyscale-as-RGB stays far below it.
COLOUR_SPREAD_MIN = 0.03


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: `pixels` is float32, values in [0, 1], white = dense (bone)."""

    pixels: np.ndarray  # (H, W) grayscale or (H, W, 3) when the source was colour
    format: ImageFormat
    width: int
    height: int
    bits_stored: int
    is_colour: bool
    dicom: dict[str, str] = field(
        default_factory=dict
    )  # Modality, BodyPartExamined, ViewPosition, ...


def decoded_image_build(
    *,
    pixels: np.ndarray,
    fmt: ImageFormat,
    bits_stored: int,
    is_colour: bool,
    dicom: dict[str, str] | None = None,
) -> DecodedImage:
    """Wrap decoded pixels, reading the width and height off the array."""
    height, width = pixels.shape[:2]
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        width=int(width),
        height=int(height),
        bits_stored=bits_stored,
        is_colour=is_colour,
        dicom=dicom or {},
    )


def size_check(*, width: int, height: int, max_pixels: int, min_side: int) -> None:
    """Raise when the declared size is out of bounds; call before decoding any pixels."""
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width} x {height} pixels; "
            f"the limit is {max_pixels / 1_000_000:g} megapixels."
        )
    if min(width, height) < min_side:
        raise ImageTooSmallError(
            f"The image is {width} x {height} pixels; "
            f"at least {min_side} pixels are needed on each side."
        )


def pixels_normalise(*, pixels: np.ndarray) -> np.ndarray:
    """Stretch to [0, 1] by min/max; a constant image becomes all zeros."""
    arr = pixels.astype(np.float64, copy=False)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def colour_is_real(*, rgb: np.ndarray) -> bool:
    """Return True when the channels differ meaningfully (not greyscale stored as RGB)."""
    step = max(1, max(rgb.shape[:2]) // 256)
    small = rgb[::step, ::step]
    spread = small.max(axis=2) - small.min(axis=2)
    return float(spread.mean()) > COLOUR_SPREAD_MIN


def colour_resolve(*, pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return float32 pixels and whether they are real colour; greyscale-as-RGB becomes (H, W)."""
    is_colour = pixels.ndim == 3 and colour_is_real(rgb=pixels)
    if pixels.ndim == 3 and not is_colour:
        pixels = grayscale_convert(pixels=pixels)
    return np.ascontiguousarray(pixels, dtype=np.float32), is_colour
