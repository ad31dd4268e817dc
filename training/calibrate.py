"""Temperature scaling and the input gate's feature-distance statistics."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.covariance import LedoitWolf


def log_softmax(*, logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll_at_temperature(*, logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature)."""
    lp = log_softmax(logits=np.asarray(logits, np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), labels].mean())


def temperature_fit(*, logits: np.ndarray, labels: np.ndarray) -> float:
    """Return the T in [0.05, 20] minimising validation NLL (1-D bounded search on log T)."""
    res = minimize_scalar(
        lambda lt: nll_at_temperature(logits=logits, labels=labels, temperature=float(np.exp(lt))),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def gaussian_fit(*, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean, precision) of features with Ledoit-Wolf shrinkage (n ~ d here)."""
    lw = LedoitWolf().fit(np.asarray(features, np.float64))
    return lw.location_.astype(np.float32), lw.precision_.astype(np.float32)


def mahalanobis_sq(*, features: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each row to the fitted Gaussian."""
    d = np.asarray(features, np.float32) - mean
    return np.einsum("ij,jk,ik->i", d, precision, d)
