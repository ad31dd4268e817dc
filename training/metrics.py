"""Classification metrics for 3-class screening outputs (pure numpy + scikit-learn)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from mlcore.labels import LABELS


def auc_or_none(*, y: np.ndarray, score: np.ndarray) -> float | None:
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
        auc = auc_or_none(y=pos.astype(int), score=probs[:, c])
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
            out["covid_vs_rest_auc_within_source"][s] = auc_or_none(
                y=(labels[m] == 0).astype(int), score=probs[m, 0]
            )
    return out


SIIM_OPACITY = ("typical", "atypical", "indeterminate")


def siim_figures(*, probs: np.ndarray, rows: list[dict]) -> dict[str, float | None]:
    """Inside-SIIM AUCs by appearance grade: typical/opacity vs negative, typical vs atypical."""
    grades = np.array([r.get("appearance") or "" for r in rows])
    siim = np.array([(r.get("source") or "") == "siim" for r in rows]) & (grades != "")
    probs = np.asarray(probs, np.float64)

    def auc_of(pos: np.ndarray, neg: np.ndarray, score: np.ndarray) -> float | None:
        keep = siim & (pos | neg)
        return auc_or_none(y=pos[keep].astype(int), score=score[keep]) if keep.any() else None

    negative = grades == "negative"
    return {
        "siim_typical_vs_negative_auc": auc_of(grades == "typical", negative, probs[:, 0]),
        "siim_opacity_vs_negative_auc": auc_of(
            np.isin(grades, SIIM_OPACITY), negative, 1.0 - probs[:, 2]
        ),
        "siim_typical_vs_atypical_auc": auc_of(
            grades == "typical", grades == "atypical", probs[:, 0]
        ),
    }


def auc_bootstrap_interval(
    *, y: np.ndarray, score: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95 % percentile interval of the ROC AUC over resamples (stratified by class)."""
    y = np.asarray(y).astype(int)
    score = np.asarray(score, np.float64)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return None
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        aucs.append(roc_auc_score(y[idx], score[idx]))
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)
