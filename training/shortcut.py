"""Shortcut checks: does the model need the image's edges, and does its evidence sit on lungs?

No lung segmentation model can be had here, so the lung fields are a fixed atlas: two
ellipses in the frame of the radiograph's content, drawn where the lungs of an adult PA or AP
film sit after the border crop (x 10-48 % and 52-90 %, y 12-82 %). It is coarse, and errs on
children's films and rotated ones; it is the same for every source, which is what a
comparison between sources needs.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# (centre x, centre y, half width, half height) of each lung field, in content fractions.
LUNG_ELLIPSES = ((0.29, 0.47, 0.19, 0.35), (0.71, 0.47, 0.19, 0.35))
# Outer share of the content hidden in the masked run: burned-in text and markers sit there.
MASK_BAND = 0.15


def lung_mask(*, height: int, width: int) -> np.ndarray:
    """Return the (height, width) bool atlas of the two lung fields."""
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    inside = np.zeros((height, width), bool)
    for cx, cy, rx, ry in LUNG_ELLIPSES:
        inside |= ((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2 <= 1.0
    return inside


def band_masked(*, array: np.ndarray, content_box: tuple[int, int, int, int]) -> np.ndarray:
    """Return a copy of a preprocessed input with the outer MASK_BAND of its content zeroed."""
    top, left, bottom, right = content_box
    h, w = bottom - top, right - left
    dy, dx = round(h * MASK_BAND), round(w * MASK_BAND)
    out = np.zeros_like(array)
    out[top + dy : bottom - dy, left + dx : right - dx] = array[
        top + dy : bottom - dy, left + dx : right - dx
    ]
    return out


def cam_upsample(*, cam: np.ndarray, size: int) -> np.ndarray:
    """Resize a non-negative model-space map to the (size, size) input, bilinearly."""
    img = Image.fromarray(np.maximum(np.asarray(cam, np.float32), 0.0), mode="F")
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)


def cam_outside_lungs(*, cam: np.ndarray, content_box: tuple[int, int, int, int], size: int):
    """Share of a model-space CAM's mass outside the lung atlas (None for an empty map)."""
    up = cam_upsample(cam=cam, size=size)
    top, left, bottom, right = content_box
    content = up[top:bottom, left:right]
    total = content.sum()
    if total <= 0:
        return None
    lungs = lung_mask(height=bottom - top, width=right - left)
    return float(content[~lungs].sum() / total)


def outside_lungs_report(*, shares: list[float | None], sources: list[str]) -> dict:
    """Mean outside-lung share per source, with the share a uniform map would have."""
    values = np.array([np.nan if s is None else s for s in shares], np.float64)
    src = np.asarray(sources)

    def mean(m: np.ndarray) -> float | None:
        v = values[m & ~np.isnan(values)]
        return float(v.mean()) if len(v) else None

    return {
        "uniform_map": float(1.0 - lung_mask(height=200, width=200).mean()),
        "all": mean(np.ones(len(values), bool)),
        "by_source": {s: mean(src == s) for s in sorted(set(sources))},
    }
