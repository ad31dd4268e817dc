"""Report figures: confusion matrix, one-vs-rest ROC curves, reliability diagram."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mlcore.labels import LABELS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_plot(*, cm: np.ndarray, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=110)
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            colour = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour)
    ax.set_xticks(range(3), LABELS)
    ax.set_yticks(range(3), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def roc_plot(*, probs: np.ndarray, labels: np.ndarray, path: Path) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=110)
    for c, name in enumerate(LABELS):
        y = (labels == c).astype(int)
        if y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, probs[:, c])
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, probs[:, c]):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC, one vs rest")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reliability_plot(*, probs: np.ndarray, labels: np.ndarray, path: Path, bins: int = 10) -> None:
    plt = _plt()
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    mids, accs, counts = [], [], []
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            mids.append(conf[m].mean())
            accs.append(correct[m].mean())
            counts.append(int(m.sum()))
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=110)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.plot(mids, accs, "o-")
    for x, y, n in zip(mids, accs, counts, strict=True):
        ax.annotate(str(n), (x, y), fontsize=7, textcoords="offset points", xytext=(3, -9))
    ax.set_xlabel("confidence (top label)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
