"""Statistics to compare two models on the same reviewed cases (numpy and math only).

CONTRACT (screening.selectors_comparison relies on it):
    wilson_interval(*, successes, n, z=1.96) -> Proportion   (value None when n == 0)
    cohen_kappa(*, truth, predicted) -> float | None          (None: undefined)
    mcnemar_exact(*, b, c) -> float                           two-sided exact binomial p
    calibration_measure(*, probabilities, truth) -> (ece, brier) over accepted cases
    model_figures(*, truth, outputs) -> ModelFigures           one model against the truth
    models_compare(*, truth, current, candidate) -> Comparison  both, paired

Each case's truth is one of LABELS; each model's output a ModelOutput whose `finding` is a
label or "" when its gate refused the image. A refused image is a miss for the sensitivity
of its true class and a true negative for every other class; it counts as wrong in kappa and
McNemar's test and is left out of calibration (it has no probabilities).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlcore.labels import LABELS

Z95 = 1.959963984540054
REFUSED = "refused"


@dataclass(frozen=True)
class Proportion:
    """k of n, with its Wilson score interval."""

    successes: int
    n: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class ModelOutput:
    finding: str  # a label of LABELS, or "" when the gate refused the image
    probabilities: Mapping[str, float] | None = None


@dataclass(frozen=True)
class ModelFigures:
    sensitivity: dict[str, Proportion]
    specificity: dict[str, Proportion]
    kappa: float | None
    ece: float | None
    brier: float | None
    correct: int
    refused: int


@dataclass(frozen=True)
class Comparison:
    cases: int
    current: ModelFigures
    candidate: ModelFigures
    # McNemar on paired correctness: b = only the current model right, c = only the candidate.
    only_current_correct: int
    only_candidate_correct: int
    mcnemar_p: float


def wilson_interval(*, successes: int, n: int, z: float = Z95) -> Proportion:
    """Return k/n with its Wilson score interval (all None but the counts when n is 0)."""
    if n <= 0:
        return Proportion(successes, 0, None, None, None)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Proportion(successes, n, p, max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(*, truth: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same cases (None when chance agreement is 1)."""
    n = len(truth)
    if n == 0 or n != len(predicted):
        return None
    categories = sorted(set(truth) | set(predicted))
    observed = sum(t == p for t, p in zip(truth, predicted, strict=True)) / n
    expected = sum((truth.count(c) / n) * (list(predicted).count(c) / n) for c in categories)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def mcnemar_exact(*, b: int, c: int) -> float:
    """Two-sided exact McNemar p: the discordant pairs against Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def calibration_measure(
    *, probabilities: Sequence[Mapping[str, float]], truth: Sequence[str], bins: int = 10
) -> tuple[float | None, float | None]:
    """Return (ECE of the top-label confidence over equal-width bins, multi-class Brier)."""
    if not probabilities:
        return None, None
    probs = np.array([[float(p.get(k, 0.0)) for k in LABELS] for p in probabilities])
    target = np.array([LABELS.index(t) for t in truth])
    onehot = np.eye(len(LABELS))[target]
    brier = float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == target).astype(np.float64)
    ece = 0.0
    for low, high in itertools.pairwise(np.linspace(0.0, 1.0, bins + 1)):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece), brier


def model_figures(*, truth: Sequence[str], outputs: Sequence[ModelOutput]) -> ModelFigures:
    """Per-class sensitivity and specificity, kappa with the truth, calibration."""
    found = [o.finding or REFUSED for o in outputs]
    sensitivity, specificity = {}, {}
    for label in LABELS:
        positives = [f for t, f in zip(truth, found, strict=True) if t == label]
        negatives = [f for t, f in zip(truth, found, strict=True) if t != label]
        sensitivity[label] = wilson_interval(
            successes=sum(f == label for f in positives), n=len(positives)
        )
        specificity[label] = wilson_interval(
            successes=sum(f != label for f in negatives), n=len(negatives)
        )
    scored = [(o.probabilities, t) for o, t in zip(outputs, truth, strict=True) if o.probabilities]
    ece, brier = calibration_measure(
        probabilities=[p for p, _ in scored], truth=[t for _, t in scored]
    )
    return ModelFigures(
        sensitivity=sensitivity,
        specificity=specificity,
        kappa=cohen_kappa(truth=list(truth), predicted=found),
        ece=ece,
        brier=brier,
        correct=sum(t == f for t, f in zip(truth, found, strict=True)),
        refused=found.count(REFUSED),
    )


def models_compare(
    *, truth: Sequence[str], current: Sequence[ModelOutput], candidate: Sequence[ModelOutput]
) -> Comparison:
    """Figures of both models on the same cases and McNemar's exact test of their accuracy."""
    right_current = [o.finding == t for o, t in zip(current, truth, strict=True)]
    right_candidate = [o.finding == t for o, t in zip(candidate, truth, strict=True)]
    b = sum(x and not y for x, y in zip(right_current, right_candidate, strict=True))
    c = sum(y and not x for x, y in zip(right_current, right_candidate, strict=True))
    return Comparison(
        cases=len(truth),
        current=model_figures(truth=truth, outputs=current),
        candidate=model_figures(truth=truth, outputs=candidate),
        only_current_correct=b,
        only_candidate_correct=c,
        mcnemar_p=mcnemar_exact(b=b, c=c),
    )


def gate_disagreements(
    *, current_accepted: Sequence[bool], candidate_accepted: Sequence[bool]
) -> dict[str, int]:
    """Count the images each gate let through that the other refused (and the agreements)."""
    pairs = list(zip(current_accepted, candidate_accepted, strict=True))
    return {
        "images": len(pairs),
        "both_accepted": sum(a and b for a, b in pairs),
        "both_refused": sum(not a and not b for a, b in pairs),
        "only_current_accepted": sum(a and not b for a, b in pairs),
        "only_candidate_accepted": sum(b and not a for a, b in pairs),
    }


def majority_label(*, labels: Sequence[str]) -> str | None:
    """The label most reviewers gave; None on a tie for the most."""
    if not labels:
        return None
    counts = sorted(((labels.count(x), x) for x in set(labels)), reverse=True)
    if len(counts) > 1 and counts[0][0] == counts[1][0]:
        return None
    return counts[0][1]
