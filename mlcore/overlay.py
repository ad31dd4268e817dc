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


def overlay_image(
    *, pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, floor: float = 0.15
) -> np.ndarray:
    """Return an (h, w, 3) uint8 blend at the heatmap's size; weak evidence stays see-through."""
    h, w = heatmap.shape
    gray = grayscale_convert(pixels=pixels)
    base = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8), mode="L")
    if base.size != (w, h):
        base = base.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    base_rgb = np.repeat(np.asarray(base, np.float32)[..., None], 3, axis=2)
    hm = np.clip(heatmap, 0.0, 1.0)
    colour = _LUT[(hm * 255).astype(np.uint8)].astype(np.float32)
    a = (alpha * np.clip((hm - floor) / (1 - floor), 0.0, 1.0))[..., None]
    return (base_rgb * (1 - a) + colour * a).astype(np.uint8)


def png_encode(*, rgb: np.ndarray) -> bytes:
    """Encode fast (compress_level=1): overlays are short-lived, speed beats size."""
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def overlay_png(*, pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> bytes:
    """Heatmap over the radiograph as PNG bytes, at the heatmap's (source-aspect) size."""
    return png_encode(rgb=overlay_image(pixels=pixels, heatmap=heatmap, alpha=alpha))
