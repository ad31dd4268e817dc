"""Does an inside-source figure measure the film or who published it?

Cohen's collection gathers films from many contributors (journals, case sites, hospitals),
and how often a contributor's films show COVID-19 differs widely. The licence a film was
published under is the one trace of its contributor in the metadata. Two figures answer the
question: how well the licence alone ranks the films (the training split's covid share per
licence as the score), and the model's AUC over pairs of films that share a licence, where
the contributor cannot give the answer away.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from training.metrics import auc_or_none

CONTRIBUTOR_KEY = "license"


def auc_within_groups(
    *, y: np.ndarray, score: np.ndarray, groups: np.ndarray
) -> tuple[float | None, int]:
    """Return the AUC over positive-negative pairs inside one group (ties count half), and
    how many such pairs there are; None when no group holds both classes."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, np.float64)
    groups = np.asarray(groups)
    wins, pairs = 0.0, 0
    for group in np.unique(groups):
        inside = groups == group
        pos, neg = score[inside & y], score[inside & ~y]
        if not len(pos) or not len(neg):
            continue
        diff = pos[:, None] - neg[None, :]
        wins += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
        pairs += diff.size
    return (wins / pairs if pairs else None), pairs


def covid_share_by_group(*, rows: list[dict], key: str = CONTRIBUTOR_KEY) -> dict[str, float]:
    """Return the share of covid films per value of `key` (rows: one source's labelled films)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row.get(key, "")][0] += row["label"] == "covid"
        counts[row.get(key, "")][1] += 1
    return {group: covid / n for group, (covid, n) in counts.items()}


def contributor_check(
    *,
    p_covid: np.ndarray,
    rows: list[dict],
    train_rows: list[dict],
    source: str = "cohen",
    key: str = CONTRIBUTOR_KEY,
) -> dict[str, Any] | None:
    """Covid vs rest inside `source`: the model's AUC, the licence alone's, and the model's
    inside one licence; None when the source or the key is missing."""
    inside = np.array([r.get("source") == source and bool(r.get(key)) for r in rows])
    train = [r for r in train_rows if r.get("source") == source and r.get(key)]
    if not inside.any() or not train:
        return None
    chosen = [r for r, keep in zip(rows, inside, strict=True) if keep]
    y = np.array([r["label"] == "covid" for r in chosen])
    groups = np.array([r[key] for r in chosen])
    shares = covid_share_by_group(rows=train, key=key)
    overall = float(np.mean([r["label"] == "covid" for r in train]))
    by_licence = np.array([shares.get(g, overall) for g in groups])
    within, pairs = auc_within_groups(y=y, score=p_covid[inside], groups=groups)
    return {
        "source": source,
        "key": key,
        "n": int(inside.sum()),
        "pairs": int(y.sum() * (~y).sum()),
        "pairs_within": pairs,
        "auc": auc_or_none(y=y, score=p_covid[inside]),
        "key_only_auc": auc_or_none(y=y, score=by_licence),
        "auc_within_key": within,
    }
