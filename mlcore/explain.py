"""The evidence of one classified image: its Grad-CAM on the film, the share of it inside the
lung fields, and the overlay a reviewer reads."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mlcore.gradcam import heatmap_to_source
from mlcore.lungs import lung_evidence_map
from mlcore.overlay import overlay_jpeg
from mlcore.preprocess import Preprocessed

OVERLAY_MAX_SIDE = 512


@dataclass(frozen=True)
class Explanation:
    heatmap: np.ndarray  # (h, w) in [0, 1], on the film, longer side <= OVERLAY_MAX_SIDE
    overlay_jpeg: bytes
    evidence_in_lungs: float | None  # None without lung fields
    timings_ms: dict[str, float]  # gradcam, overlay


def explanation_make(
    *,
    cam: np.ndarray,
    pixels: np.ndarray,
    prep: Preprocessed,
    lung: np.ndarray | None = None,
    lung_prep: Preprocessed | None = None,
) -> Explanation:
    """Map a class's (h, w) Grad-CAM onto the film, measure it against the lung fields when
    given, and draw the overlay (with the fields' outline)."""
    t = time.perf_counter()
    mask = evidence = None
    if lung is not None and lung_prep is not None:
        heatmap, mask, evidence = lung_evidence_map(
            cam=cam, prep=prep, lung=lung, lung_prep=lung_prep, max_side=OVERLAY_MAX_SIDE
        )
    else:
        heatmap = heatmap_to_source(cam=cam, prep=prep, max_side=OVERLAY_MAX_SIDE)
    gradcam_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    overlay = overlay_jpeg(pixels=pixels, heatmap=heatmap, lungs=mask)
    overlay_ms = (time.perf_counter() - t) * 1000
    return Explanation(heatmap, overlay, evidence, {"gradcam": gradcam_ms, "overlay": overlay_ms})
