"""What screening one image returns, and the gate statistics file it may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlcore.errors import ModelUnavailableError
from mlcore.evidence import evidence_outside_lungs
from mlcore.lungs import LungFields

TIMING_KEYS = ("decode", "gate", "preprocess", "classify", "lungs", "gradcam", "overlay")


@dataclass(kw_only=True)
class ScreenResult:
    accepted: bool
    model_name: str
    model_version: str
    reason: str | None = None
    label: str | None = None
    decision: str | None = None
    operating_point: str | None = None
    thresholds: dict[str, float] | None = None
    probabilities: dict[str, float] | None = None
    evidence_in_lungs: float | None = None
    heatmap: np.ndarray | None = None
    overlay_jpeg: bytes | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    gate_scores: dict[str, float] = field(default_factory=dict)
    lung_fields: LungFields | None = None

    @property
    def evidence_outside_lungs(self) -> bool:
        return evidence_outside_lungs(evidence_in_lungs=self.evidence_in_lungs)


def gate_stats_load(*, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the Mahalanobis mean and precision; raise ModelUnavailableError if unusable."""
    try:
        with np.load(path) as z:
            return z["mean"].astype(np.float32), z["precision"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelUnavailableError(f"gate statistics unreadable: {path}: {exc}") from exc
