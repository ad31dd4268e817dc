"""After the fit: temperature, gate statistics and thresholds, and the card's evaluation.

Shared by `train` and `recalibrate`, so a model re-fitted for other test-time views gets
exactly the numbers a fresh training run would have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.gate import GateThresholds
from training.calibrate import gaussian_fit, mahalanobis_sq, temperature_fit
from training.data import Table, label_indices
from training.metrics import metrics_compute

# Each learned gate test may refuse at most this share of the val films (before a margin):
# the gate must accept >= 99.5 % of real chest films, and its two tests add up.
GATE_VAL_REFUSE_SHARE = 0.001
# The share of val negatives whose P(frontal) may sit above the frontal threshold's margin.
GATE_VAL_NEGATIVE_SHARE = 0.01
FRONTAL_MIN_RANGE = (0.02, 0.5)


@dataclass
class Finished:
    """What the card and gate_stats.npz take from the calibration step."""

    temperature: float
    thresholds: GateThresholds
    gate_mean: np.ndarray
    gate_precision: np.ndarray
    evaluation: dict[str, Any]


def logit(p: float) -> float:
    p = float(np.clip(p, 1e-6, 1 - 1e-6))
    return float(np.log(p / (1 - p)))


def frontal_min_fit(*, p_frontal: np.ndarray, p_frontal_negatives: np.ndarray | None) -> float:
    """Put the frontal threshold midway (in log-odds) between val chest films and negatives.

    The low tail of the val chest films alone is too thin to place it: when every val film
    scores high, a quantile rule sets the bar high and refuses real films that score a
    little lower. The midpoint to the negatives' high tail keeps both margins equal. Without
    negatives, or when the two overlap, fall back to 0.9 x the chest films' low quantile.
    """
    chest = float(np.quantile(p_frontal, GATE_VAL_REFUSE_SHARE))
    frontal = chest * 0.9
    if p_frontal_negatives is not None and len(p_frontal_negatives):
        negative = float(np.quantile(p_frontal_negatives, 1.0 - GATE_VAL_NEGATIVE_SHARE))
        if negative < chest:
            mid = (logit(chest) + logit(negative)) / 2
            frontal = min(frontal, float(1.0 / (1.0 + np.exp(-mid))))
    return float(np.clip(frontal, *FRONTAL_MIN_RANGE))


def gate_thresholds_fit(
    *,
    p_frontal: np.ndarray,
    distances: np.ndarray,
    p_frontal_negatives: np.ndarray | None = None,
) -> GateThresholds:
    """Fit the learned tests on val: the frontal bar and the feature-distance limit."""
    return GateThresholds(
        frontal_min=frontal_min_fit(p_frontal=p_frontal, p_frontal_negatives=p_frontal_negatives),
        mahalanobis_max=float(np.quantile(distances, 1.0 - GATE_VAL_REFUSE_SHARE) * 1.1),
    )


def refuse_rates(*, refused: np.ndarray, kinds: list[str]) -> dict[str, Any]:
    """Return the share of negatives refused, overall and by kind."""
    by_kind: dict[str, list[bool]] = {}
    for k, r in zip(kinds, refused, strict=True):
        by_kind.setdefault(str(k), []).append(bool(r))
    return {
        "all": float(refused.mean()),
        "n": len(kinds),
        **{k: float(np.mean(v)) for k, v in by_kind.items()},
    }


def model_finish(
    *,
    model: Any,
    view_shift: int,
    x_train: np.ndarray,
    x_val: np.ndarray,
    val_table: Table,
    x_test: np.ndarray | None,
    test_table: Table,
    negatives: Any,
) -> Finished:
    """Fit temperature on val, the feature Gaussian on train, gate thresholds on val; score."""
    from mlcore.classifier import Classifier

    y_va = label_indices(labels=val_table.column("label"))
    clf = Classifier(model=model, temperature=1.0, view_shift=view_shift)
    out_tr = clf.run_chunked(batch=x_train)
    out_va = clf.run_chunked(batch=x_val)
    temperature = temperature_fit(logits=out_va.logits, labels=y_va)

    mean, precision = gaussian_fit(features=out_tr.features)
    d_va = mahalanobis_sq(features=out_va.features, mean=mean, precision=precision)
    # Negatives outside training: "val" ones may place the threshold, "test" ones only score.
    neg_va = np.array([s != "train" for s in negatives.splits], bool)
    out_neg = clf.run_chunked(batch=negatives.arrays[neg_va]) if neg_va.any() else None
    fit_part = np.array([s == "val" for s in negatives.splits], bool)[neg_va]
    thresholds = gate_thresholds_fit(
        p_frontal=out_va.gate_probabilities[:, 0],
        distances=d_va,
        p_frontal_negatives=None if out_neg is None else out_neg.gate_probabilities[fit_part, 0],
    )

    clf_t = Classifier(model=model, temperature=temperature, view_shift=view_shift)

    def refused_of(o) -> np.ndarray:
        d = mahalanobis_sq(features=o.features, mean=mean, precision=precision)
        return (o.gate_probabilities[:, 0] < thresholds.frontal_min) | (
            d > thresholds.mahalanobis_max
        )

    evaluation: dict[str, Any] = {}
    for split, x, t in (("val", x_val, val_table), ("test", x_test, test_table)):
        if x is None or not len(x):
            continue
        o = clf_t.run_chunked(batch=x)
        evaluation[split] = metrics_compute(
            probs=o.probabilities,
            labels=label_indices(labels=t.column("label")),
            sources=t.column("source", "all"),
        )
        evaluation[split]["gate_learned_accept_rate"] = float((~refused_of(o)).mean())
    if out_neg is not None:
        evaluation["gate_heldout_negatives_learned_refuse_rate"] = refuse_rates(
            refused=refused_of(out_neg), kinds=list(np.array(negatives.kinds)[neg_va])
        )
    return Finished(temperature, thresholds, mean, precision, evaluation)


def gate_stats_save(*, path: Path, finished: Finished) -> None:
    """Write the gate's feature mean and precision (mlcore.pipeline.gate_stats_load reads them)."""
    np.savez(path, mean=finished.gate_mean, precision=finished.gate_precision)


def trainset_finish(*, model: Any, view_shift: int, data: Any, negatives: Any) -> Finished:
    """Run `model_finish` on a TrainingData's splits (the train and recalibrate steps)."""
    return model_finish(
        model=model,
        view_shift=view_shift,
        x_train=data.x_train,
        x_val=data.x_val,
        val_table=data.val,
        x_test=data.x_test,
        test_table=data.test,
        negatives=negatives,
    )
