"""Blend a heatmap over the radiograph and encode it as a PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mlcore.preprocess import grayscale_convert


def jet_lut() -> np.ndarray:
    """A 256x3 uint8 jet-like colour table (blue -> cyan -> yellow -> red), no matplotlib."""
    x = np.linspace(0.0, 1.0, 256)
    r = np.clip(1.5 - np.abs(4 * x - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * x - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * x - 1), 0, 1)
    return (np.stack([r, g, b], axis=1) * 255).astype(np.uint8)


_LUT = jet_lut()
_PALETTE = _LUT.reshape(-1).tolist()


def alpha_lut(*, alpha: float, floor: float) -> np.ndarray:
    """Opacity per heat level: weak evidence stays see-through."""
    x = np.linspace(0.0, 1.0, 256)
    return (255 * alpha * np.clip((x - floor) / (1 - floor), 0.0, 1.0)).astype(np.uint8)


def overlay_image(
    *, pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, floor: float = 0.15
) -> np.ndarray:
    """Return an (h, w, 3) uint8 blend at the heatmap's size (uint8 LUTs + PIL composite)."""
    h, w = heatmap.shape
    gray = grayscale_convert(pixels=pixels)
    base = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8), mode="L")
    if base.size != (w, h):
        base = base.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    level = (np.clip(heatmap, 0.0, 1.0) * 255).astype(np.uint8)
    # A palette image converts to RGB in C: ~10x faster than numpy fancy indexing.
    colour = Image.fromarray(level, mode="P")
    colour.putpalette(_PALETTE)
    colour = colour.convert("RGB")
    mask = Image.fromarray(alpha_lut(alpha=alpha, floor=floor)[level], mode="L")
    return np.asarray(Image.composite(colour, base.convert("RGB"), mask))


def png_encode(*, rgb: np.ndarray) -> bytes:
    """Encode fast (compress_level=1): overlays are short-lived, speed beats size."""
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def overlay_png(*, pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> bytes:
    """Heatmap over the radiograph as PNG bytes, at the heatmap's (source-aspect) size."""
    return png_encode(rgb=overlay_image(pixels=pixels, heatmap=heatmap, alpha=alpha))
