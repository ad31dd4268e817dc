"""Where the model's evidence lies: the one rule that flags a heatmap outside the lungs."""

from __future__ import annotations

# Below this share of Grad-CAM mass inside the lung fields, a reader is asked to check
# what the model looked at.
EVIDENCE_IN_LUNGS_MIN = 0.5


def evidence_outside_lungs(*, evidence_in_lungs: float | None) -> bool:
    """Return whether most of the heatmap lies outside the lung fields (False when unknown)."""
    return evidence_in_lungs is not None and evidence_in_lungs < EVIDENCE_IN_LUNGS_MIN
