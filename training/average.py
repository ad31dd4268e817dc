"""Stochastic weight averaging: a running mean of the weights of the last epochs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class WeightAverage:
    """Sum of weight lists and how many were added."""

    total: list[np.ndarray] | None = None
    count: int = 0
    dtypes: list[np.dtype] = field(default_factory=list)

    def add(self, *, weights: list[np.ndarray]) -> None:
        if self.total is None:
            self.total = [w.astype(np.float64) for w in weights]
            self.dtypes = [w.dtype for w in weights]
        else:
            self.total = [a + w for a, w in zip(self.total, weights, strict=True)]
        self.count += 1

    def mean(self) -> list[np.ndarray]:
        if self.total is None:
            raise ValueError("no weights averaged yet")
        return [(a / self.count).astype(d) for a, d in zip(self.total, self.dtypes, strict=True)]


def bn_statistics_refresh(*, model, x: np.ndarray, batch_size: int = 64, batches: int = 24) -> None:
    """Re-estimate BatchNorm moving statistics of averaged weights on un-augmented images."""
    # Averaging BN statistics across epochs is only approximate; a few training-mode
    # forward passes (fast momentum) replace them with those of the averaged network.
    rng = np.random.default_rng(0)
    for _ in range(batches):
        idx = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        model(x[idx][..., None], training=True)
