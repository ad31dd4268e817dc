"""What the drift watch reads off one screen: the gate's normalised distance.

Pure Python. The gate reports a squared distance of the image's trunk features to the model's
training films: gate 2 (mlcore.gatemodel) the sum of squares of P PCA-whitened features, older
gates (mlcore.gate) a Mahalanobis distance over all K features. Each also reports how many
dimensions it summed (`distance_dims`). Divided by that and rooted, both read the same way:
the root mean square of a whitened coordinate, about 1 for a typical training film.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

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
