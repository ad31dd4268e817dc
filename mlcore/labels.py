"""The class names every model, report and bench speaks of, in output order."""

from __future__ import annotations

LABELS = ("covid", "pneumonia", "normal")
GATE_LABELS = ("frontal_cxr", "lateral_chest", "other_radiograph", "ct_slice", "other")
