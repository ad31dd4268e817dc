"""Classification metrics for 3-class screening outputs (pure numpy + scikit-learn)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from mlcore.labels import LABELS


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when only one class is present."""
    if y.min() == y.max():
        return None
    return float(roc_auc_score(y, score))


def ece_compute(*, probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-label confidence (equal-width bins)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def sensitivity_at_specificity(
    *, y: np.ndarray, score: np.ndarray, specificity: float
) -> float | None:
    """Highest sensitivity whose specificity is >= `specificity` on this ROC."""
    if y.min() == y.max():
        return None
    fpr, tpr, _ = roc_curve(y, score)
    ok = fpr <= 1.0 - specificity + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def metrics_compute(
    *, probs: np.ndarray, labels: np.ndarray, sources: list[str] | None = None
) -> dict[str, Any]:
    """Return the report dict: accuracy, balanced accuracy, AUCs, ECE, per class and per source."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    pred = probs.argmax(axis=1)
    n = len(labels)
    per_class: dict[str, Any] = {}
    recalls, aucs = [], []
    for c, name in enumerate(LABELS):
        pos, neg = labels == c, labels != c
        tp = int((pred[pos] == c).sum())
        tn = int((pred[neg] != c).sum())
        fp = int((pred[neg] == c).sum())
        sens = tp / pos.sum() if pos.any() else None
        auc = _auc(pos.astype(int), probs[:, c])
        per_class[name] = {
            "n": int(pos.sum()),
            "sensitivity": sens,
            "specificity": tn / neg.sum() if neg.any() else None,
            "ppv": tp / (tp + fp) if (tp + fp) else None,
            "auc": auc,
        }
        if sens is not None:
            recalls.append(sens)
        if auc is not None:
            aucs.append(auc)
    nll = float(-np.log(np.clip(probs[np.arange(n), labels], 1e-12, 1.0)).mean()) if n else None
    cm = np.zeros((3, 3), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": float((pred == labels).mean()) if n else None,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "ece": ece_compute(probs=probs, labels=labels) if n else None,
        "nll": nll,
        "confusion_matrix": {"labels": list(LABELS), "rows_true_cols_pred": cm.tolist()},
        "per_class": per_class,
        "covid_sensitivity_at_95_specificity": sensitivity_at_specificity(
            y=(labels == 0).astype(int), score=probs[:, 0], specificity=0.95
        ),
    }
    if sources is not None:
        src = np.asarray(sources)
        out["per_source"] = {}
        out["covid_vs_rest_auc_within_source"] = {}
        for s in sorted(set(sources)):
            m = src == s
            out["per_source"][s] = {
                "n": int(m.sum()),
                "accuracy": float((pred[m] == labels[m]).mean()),
                "labels": {name: int((labels[m] == c).sum()) for c, name in enumerate(LABELS)},
            }
            out["covid_vs_rest_auc_within_source"][s] = _auc(
                (labels[m] == 0).astype(int), probs[m, 0]
            )
    return out
