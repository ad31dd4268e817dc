"""What the drift watch reads off one screen: the gate's normalised distance.

Pure Python. The gate reports a squared distance of the image's trunk features to the model's
training films: gate 2 (mlcore.gatemodel) the sum of squares of P PCA-whitened features, older
gates (mlcore.gate) a Mahalanobis distance over all K features. Each also reports how many
dimensions it summed (`distance_dims`). Divided by that and rooted, both read the same way:
the root mean square of a whitened coordinate, about 1 for a typical training film.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.labels import LABELS

# The keys a gate's scores hold its squared distance under, newest first.
DISTANCE_KEYS = ("distance_sq", "mahalanobis_sq")
DIMS_KEY = "distance_dims"


def gate_distance_of(*, scores: Mapping[str, float] | None) -> float | None:
    """Return sqrt(distance_sq / P) of a screen's gate scores; None when the gate gave none."""
    scores = scores or {}
    dims = scores.get(DIMS_KEY)
    squared = next((scores[k] for k in DISTANCE_KEYS if scores.get(k) is not None), None)
    if not dims or squared is None or not math.isfinite(float(squared)):
        return None
    return math.sqrt(max(float(squared), 0.0) / float(dims))


# ------------------------------------------------------------------------ a day's figures


@dataclass(frozen=True, kw_only=True)
class DriftItem:
    """One screened image as the drift watch sees it."""

    accepted: bool
    reason: str = ""
    gate_distance: float | None = None
    p_covid: float | None = None
    finding: str = ""  # what the screen said: its decision, else its argmax label
    width: int | None = None
    height: int | None = None
    format: str = ""  # png | jpeg | dicom
    modality: str = ""  # DICOM Modality, "" for other files
    photometric: str = ""  # DICOM PhotometricInterpretation, "" for other files
    agreed: bool | None = None  # the reviewers agreed with the finding (None: not reviewed)


@dataclass(frozen=True)
class FigureSpec:
    """A figure banded and alerted on: a share of `count` images, or a level over them."""

    name: str
    title: str
    kind: str  # "share" | "level"
    count: str  # the count of images the figure is taken over


# Longer image side, in pixels: the upper bounds of the size mix's buckets.
SIDE_BUCKETS = (512, 1024, 2048, 4096)
FIGURES = (
    FigureSpec("refused_share", "Refused by the gate (share)", "share", "n_images"),
    FigureSpec("gate_distance_median", "Gate distance, median", "level", "n_distance"),
    FigureSpec("gate_distance_p90", "Gate distance, 90th percentile", "level", "n_distance"),
    FigureSpec("covid_mean", "Mean p(covid)", "level", "n_accepted"),
    FigureSpec("share_covid", "Screened covid (share)", "share", "n_accepted"),
    FigureSpec("share_pneumonia", "Screened pneumonia (share)", "share", "n_accepted"),
    FigureSpec("share_normal", "Screened normal (share)", "share", "n_accepted"),
    FigureSpec("side_median", "Longer image side, median (px)", "level", "n_sized"),
    FigureSpec("agreement", "Reviewers agreeing (share)", "share", "n_reviewed"),
)
FIGURE_NAMES = tuple(f.name for f in FIGURES)
LEVEL_STATISTICS = {
    "gate_distance_median": ("gate_distance", 0.5),
    "gate_distance_p90": ("gate_distance", 0.9),
    "covid_mean": ("p_covid", None),
    "side_median": ("side", 0.5),
}


def side_bucket(*, width: int | None, height: int | None) -> str:
    """Name the size-mix bucket of an image by its longer side ("unknown" without a size)."""
    if not width or not height:
        return "unknown"
    side = max(width, height)
    lower = 0
    for upper in SIDE_BUCKETS:
        if side < upper:
            return f"{lower}-{upper - 1}"
        lower = upper
    return f">={lower}"


def _quantile(*, values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.asarray(values, np.float64), q)) if len(values) else None


def _share(*, part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mix(*, values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def item_values(*, items: Sequence[DriftItem]) -> dict[str, list[float]]:
    """The per-image values the level figures are taken over."""
    return {
        "gate_distance": [i.gate_distance for i in items if i.gate_distance is not None],
        "p_covid": [i.p_covid for i in items if i.accepted and i.p_covid is not None],
        "side": [float(max(i.width, i.height)) for i in items if i.width and i.height],
    }


def level_of(*, name: str, values: Sequence[float]) -> float | None:
    """Return the level figure `name` of its per-image values (a quantile or the mean)."""
    _, q = LEVEL_STATISTICS[name]
    if not len(values):
        return None
    if q is None:
        return float(np.mean(np.asarray(values, np.float64)))
    return _quantile(values=values, q=q)


def figures_compute(*, items: Sequence[DriftItem]) -> dict[str, Any]:
    """Return the figures of a set of screened images (a site's day, or a model's val films)."""
    accepted = [i for i in items if i.accepted]
    reviewed = [i for i in items if i.agreed is not None]
    values = item_values(items=items)
    findings = Counter(i.finding for i in accepted)
    figures: dict[str, Any] = {
        "n_images": len(items),
        "n_accepted": len(accepted),
        "n_distance": len(values["gate_distance"]),
        "n_sized": len(values["side"]),
        "n_reviewed": len(reviewed),
        "refused_share": _share(part=len(items) - len(accepted), whole=len(items)),
        "refusal_reasons": _mix(values=(i.reason or "refused" for i in items if not i.accepted)),
        "agreement": _share(part=sum(1 for i in reviewed if i.agreed), whole=len(reviewed)),
        "class_mix": {k: findings.get(k, 0) for k in LABELS},
        "size_mix": _mix(values=(side_bucket(width=i.width, height=i.height) for i in items)),
        "format_mix": _mix(values=(i.format or "unknown" for i in items)),
        "modality_mix": _mix(values=(i.modality or "none" for i in items)),
        "photometric_mix": _mix(values=(i.photometric or "none" for i in items)),
    }
    for label in LABELS:
        figures[f"share_{label}"] = _share(part=findings.get(label, 0), whole=len(accepted))
    for name, (source, _) in LEVEL_STATISTICS.items():
        figures[name] = level_of(name=name, values=values[source])
    return figures


# ------------------------------------------------------------------ the model's reference

REFERENCE_FILENAME = "drift_reference.json"
QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _spread_of(*, name: str, kind: str, figures: dict, values: dict, rng, resamples: int):
    """Return se1: the figure's standard error on one image (se on n images: se1 / sqrt(n)).

    A share's is sqrt(p (1 - p)); a level's is bootstrapped on the reference images.
    """
    if kind == "share":
        p = figures.get(name)
        return None if p is None else math.sqrt(p * (1 - p))
    source, _ = LEVEL_STATISTICS[name]
    data = np.asarray(values[source], np.float64)
    if len(data) < 2:
        return None
    draws = [
        level_of(name=name, values=rng.choice(data, size=len(data), replace=True))
        for _ in range(resamples)
    ]
    return float(np.std(draws) * math.sqrt(len(data)))


def reference_build(
    *, items: Sequence[DriftItem], about: dict[str, Any], resamples: int = 300, seed: int = 0
) -> dict[str, Any]:
    """Return a model's drift reference from its screened dev films (drift_reference.json).

    Each banded figure keeps its value on the films and `se1`; `distributions` keeps the
    per-image quantiles of the gate distance and p(covid) for the plots.
    """
    rng = np.random.default_rng(seed)
    figures = figures_compute(items=items)
    values = item_values(items=items)
    banded = {}
    for spec in FIGURES:
        spread = _spread_of(
            name=spec.name,
            kind=spec.kind,
            figures=figures,
            values=values,
            rng=rng,
            resamples=resamples,
        )
        banded[spec.name] = {"value": figures[spec.name], "se1": spread, "n": figures[spec.count]}
    sides = Counter(values["side"])
    if not sides or sides.most_common(1)[0][1] * 2 >= sides.total():
        # Films mostly stored at one size (a data set resized to it) say nothing of the sizes
        # a site sends.
        banded["side_median"] = {**banded["side_median"], "value": None, "note": "one size"}
    distributions = {
        source: {f"p{round(q * 100):02d}": _quantile(values=values[source], q=q) for q in QUANTILES}
        for source in ("gate_distance", "p_covid")
    }
    mixes = ("refusal_reasons", "class_mix", "size_mix", "format_mix", "modality_mix")
    return {
        **about,
        "counts": {k: figures[k] for k in figures if k.startswith("n_")},
        "figures": banded,
        "distributions": distributions,
        **{k: figures[k] for k in (*mixes, "photometric_mix")},
    }


# ------------------------------------------------------------------------------- the bands


def band_of(
    *, reference: Mapping[str, Any], n: int, z: float, min_width: float, relative: bool = False
) -> tuple[float, float] | None:
    """Return the band a day's figure over `n` images should fall in; None without a value.

    The band is the reference value +- the larger of z standard errors on n images and
    `min_width` (a fraction of the value when `relative`): chance alone rarely leaves it,
    and a shift too small to matter never does.
    """
    value = reference.get("value")
    if value is None:
        return None
    floor = min_width * abs(value) if relative else min_width
    spread = reference.get("se1")
    width = max(floor, z * spread / math.sqrt(n)) if spread and n > 0 else floor
    return value - width, value + width
