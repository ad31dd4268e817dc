"""Fit screening thresholds and judge them: sensitivity targets, Youden, bootstrap, ROC.

Pure numpy + scikit-learn. A decision "flags" a film: for covid when p(covid) >= covid_min,
for any pneumonia when it flags covid or p(covid) + p(pneumonia) >= pneumonia_min (the rule
of mlcore.operating_point, vectorised).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

# Thresholds are stored rounded down to this many decimals: never above the fitted score, so
# the validation sensitivity they were fitted for still holds.
THRESHOLD_DECIMALS = 6
ROC_MAX_POINTS = 200


def threshold_floor(*, value: float) -> float:
    """Round a threshold down to THRESHOLD_DECIMALS, within [0, 1]."""
    scale = 10**THRESHOLD_DECIMALS
    return float(min(1.0, max(0.0, math.floor(float(value) * scale) / scale)))


def threshold_for_sensitivity(*, positive_scores: np.ndarray, target: float) -> float:
    """Return the highest threshold that flags at least `target` of the positives."""
    scores = np.sort(np.asarray(positive_scores, np.float64))[::-1]
    if not len(scores):
        raise ValueError("no positives to fit a sensitivity on")
    k = math.ceil(target * len(scores) - 1e-9)
    return threshold_floor(value=scores[max(k, 1) - 1])


def threshold_youden(*, y: np.ndarray, score: np.ndarray) -> float:
    """Return the threshold that maximises sensitivity + specificity - 1."""
    fpr, tpr, thresholds = roc_curve(np.asarray(y).astype(int), np.asarray(score, np.float64))
    best = int(np.argmax(tpr - fpr))
    return threshold_floor(value=min(1.0, thresholds[best]))


def pneumonia_threshold_fit(
    *, y: np.ndarray, any_score: np.ndarray, covid_flagged: np.ndarray, target: float | None
) -> float:
    """Fit pneumonia_min for any pneumonia given what covid_min already flags.

    With a `target`, return the highest threshold whose combined sensitivity reaches it;
    without, the threshold that maximises the combined Youden index.
    """
    y = np.asarray(y).astype(bool)
    score = np.asarray(any_score, np.float64)
    covid_flagged = np.asarray(covid_flagged).astype(bool)
    if target is not None:
        needed = math.ceil(target * y.sum() - 1e-9) - int((y & covid_flagged).sum())
        rest = np.sort(score[y & ~covid_flagged])[::-1]
        if needed <= 0 or not len(rest):
            return 1.0
        return threshold_floor(value=rest[min(needed, len(rest)) - 1])
    candidates = np.unique(score)
    flagged = covid_flagged[None, :] | (score[None, :] >= candidates[:, None])
    sensitivity = flagged[:, y].mean(axis=1) if y.any() else np.zeros(len(candidates))
    specificity = 1.0 - flagged[:, ~y].mean(axis=1) if (~y).any() else np.zeros(len(candidates))
    return threshold_floor(value=candidates[int(np.argmax(sensitivity + specificity))])


def flags_compute(
    *, probs: np.ndarray, covid_min: float, pneumonia_min: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (flags covid, flags any pneumonia) per row of (N, 3) covid/pneumonia/normal."""
    probs = np.asarray(probs, np.float64)
    covid = probs[:, 0] >= covid_min
    return covid, covid | (probs[:, 0] + probs[:, 1] >= pneumonia_min)


def _rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV, NPV from (..., 4) tp, fn, fp, tn counts (NaN if 0/0)."""
    tp, fn, fp, tn = (counts[..., i].astype(np.float64) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
        }


def confusion_bootstrap(
    *,
    y: np.ndarray,
    flagged: np.ndarray,
    groups: np.ndarray | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Sensitivity, specificity, PPV and NPV with 95% percentile intervals.

    Resamples whole groups (patients) with replacement when `groups` is given, so films of
    one patient stay together; else single films.
    """
    y = np.asarray(y).astype(bool)
    flagged = np.asarray(flagged).astype(bool)
    cell = np.stack([y & flagged, y & ~flagged, ~y & flagged, ~y & ~flagged], axis=1)
    if groups is None:
        groups = np.arange(len(y))
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    per_group = np.zeros((group_index.max() + 1 if len(y) else 0, 4), np.int64)
    np.add.at(per_group, group_index, cell.astype(np.int64))
    total = per_group.sum(axis=0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_group), size=(n_boot, len(per_group)))
    boot = _rates(per_group[draws].sum(axis=1)) if len(per_group) else {}
    out: dict[str, Any] = {
        "n_positive": int(total[0] + total[1]),
        "n_negative": int(total[2] + total[3]),
        "counts": dict(zip(("tp", "fn", "fp", "tn"), (int(v) for v in total), strict=True)),
    }
    for name, value in _rates(total).items():
        samples = boot.get(name, np.array([]))
        samples = samples[~np.isnan(samples)]
        out[name] = {
            "value": None if np.isnan(value) else round(float(value), 4),
            "ci95": (
                [round(float(v), 4) for v in np.percentile(samples, [2.5, 97.5])]
                if len(samples)
                else None
            ),
        }
    return out


def roc_thin(*, y: np.ndarray, score: np.ndarray, max_points: int = ROC_MAX_POINTS) -> dict:
    """Return the ROC curve (fpr, tpr, threshold) in at most `max_points` points, and its AUC."""
    y = np.asarray(y).astype(int)
    score = np.asarray(score, np.float64)
    if len(np.unique(y)) < 2:
        return {"n_positive": int(y.sum()), "n_negative": int((1 - y).sum()), "auc": None}
    fpr, tpr, thresholds = roc_curve(y, score)
    if len(fpr) > max_points:
        keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, max_points)).astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return {
        "n_positive": int(y.sum()),
        "n_negative": int((1 - y).sum()),
        "auc": round(float(roc_auc_score(y, score)), 4),
        "fpr": [round(float(v), 4) for v in fpr],
        "tpr": [round(float(v), 4) for v in tpr],
        # The curve starts above every score (sklearn: inf); JSON wants a number.
        "threshold": [round(float(min(v, 1.0)), 6) for v in thresholds],
    }
