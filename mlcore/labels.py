"""The class names every model, report and bench speaks of, in output order."""

from __future__ import annotations

LABELS = ("covid", "pneumonia", "normal")
GATE_LABELS = ("frontal_cxr", "lateral_chest", "other_radiograph", "ct_slice", "other")

# What each class says about the film, in the RSNA consensus language for COVID-19 on chest
# radiographs: a pattern on the image, never a test result or a diagnosis.
LABEL_MEANINGS = {
    "covid": "pattern typical of COVID-19 pneumonia (multifocal, peripheral, lower-zone "
    "ground-glass or consolidation)",
    "pneumonia": "pneumonia of another pattern (e.g. lobar consolidation, cavitation, effusion)",
    "normal": "no pneumonia visible",
}
