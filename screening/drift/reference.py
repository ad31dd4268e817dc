"""The bands a site's daily figures are held to: the model's drift_reference.json, else settings.

The reference is read from the model's folder in the registry (mlcore.registry) and kept
per process while the file does not change.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from mlcore.drift import FIGURES, REFERENCE_FILENAME, FigureSpec, band_of
from mlcore.errors import ModelUnavailableError

logger = logging.getLogger(__name__)
SPECS = {f.name: f for f in FIGURES}


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    source: str  # "reference" | "settings"

    def holds(self, *, value: float) -> bool:
        return self.low <= value <= self.high


def reference_path(*, model_name: str) -> Path | None:
    """Return where the model's reference would be; None for a model not in the registry."""
    from mlcore.registry import model_dir_resolve

    try:
        return model_dir_resolve(name=model_name) / REFERENCE_FILENAME
    except ModelUnavailableError:
        return None


@lru_cache(maxsize=16)
def _reference_read(*, path: str, mtime: float) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("drift reference unreadable: %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) and isinstance(data.get("figures"), dict) else None


def reference_of(*, model_name: str) -> dict[str, Any] | None:
    """Return the model's drift reference; None when it ships none."""
    path = reference_path(model_name=model_name)
    if path is None or not path.is_file():
        return None
    return _reference_read(path=str(path), mtime=path.stat().st_mtime)


def min_count_of(*, spec: FigureSpec) -> int:
    """The fewest images a day's figure must be taken over to count."""
    if spec.count == "n_reviewed":
        return settings.CXR_DRIFT_MIN_REVIEWED
    return settings.CXR_DRIFT_MIN_IMAGES


def figure_band(*, reference: dict[str, Any] | None, figure: str, n: int) -> Band | None:
    """Return the band of `figure` on a day of `n` images; None when it is not watched."""
    entry = (reference or {}).get("figures", {}).get(figure) or {}
    if entry.get("value") is not None:
        band = band_of(
            reference=entry,
            n=n,
            z=settings.CXR_DRIFT_BAND_Z,
            min_width=float(settings.CXR_DRIFT_MIN_WIDTHS.get(figure, 0.0)),
            relative=figure in settings.CXR_DRIFT_RELATIVE_WIDTHS,
        )
        if band is not None:
            low, high = max(band[0], 0.0), band[1]  # every figure is a count's share or >= 0
            if SPECS[figure].kind == "share":
                high = min(high, 1.0)
            return Band(low, high, "reference")
    fallback = settings.CXR_DRIFT_FALLBACK_BANDS.get(figure)
    if fallback is None:
        return None
    return Band(float(fallback[0]), float(fallback[1]), "settings")
