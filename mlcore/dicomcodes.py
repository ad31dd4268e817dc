"""The coded concepts of the results report (TID 1500), standard wherever one exists.

Standard codes: DCM (PS3.16), SNOMED CT (SCT) and UCUM. Where PS3.16, SNOMED CT and LOINC have
no concept for what we report, a private code of the scheme `99CXRSCREEN` says it in its meaning.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

from mlcore.labels import LABELS

PRIVATE = "99CXRSCREEN"

# SNOMED CT 399208008 "Plain X-ray of chest": the procedure the report is about.
PROCEDURE = Code("399208008", "SCT", "Plain X-ray of chest")
# The label of each class as a SNOMED CT finding (the measurement group's DCM 121071 "Finding",
# TID 1501; one per class of mlcore.labels.LABELS). "covid" is the RSNA pattern typical of
# COVID-19 pneumonia; the international edition's closest concept is the disease itself
# (840539006). "normal" means no pneumonia visible: 17621005 "Normal" (qualifier value).
LABEL_CODES = {
    "covid": Code("840539006", "SCT", "Disease caused by SARS-CoV-2"),
    "pneumonia": Code("233604007", "SCT", "Pneumonia"),
    "normal": Code("17621005", "SCT", "Normal"),
}
# UCUM "1": probabilities and shares are dimensionless.
NO_UNITS = Code("1", "UCUM", "no units")
# DCM 111081 "CAD Operating Point Description" (TEXT): the named operating point.
OPERATING_POINT = Code("111081", "DCM", "CAD Operating Point Description")

# Private: DCM 122157 "Probability" names no subject and TID 300 has no slot for "of which
# class", so each class gets a concept whose meaning says it.
PROBABILITY_CODES = {
    label: Code(f"CXR-P-{label.upper()}", PRIVATE, f"Probability of {label}") for label in LABELS
}
# Private: no standard concept exists for an input gate (is this a chest radiograph at all?),
# its reason, a screening decision at an operating point, the Grad-CAM share inside the lung
# fields, or a disclaimer.
GATE_DECISION = Code("CXR-GATE", PRIVATE, "Input gate decision")
GATE_VALUES = {
    "accepted": Code("CXR-GATE-ACCEPTED", PRIVATE, "accepted"),
    "rejected": Code("CXR-GATE-REJECTED", PRIVATE, "rejected"),
    "not screened": Code("CXR-GATE-NOT-SCREENED", PRIVATE, "not screened"),
}
GATE_REASON = Code("CXR-REASON", PRIVATE, "Input gate reason")
DECISION = Code("CXR-DECISION", PRIVATE, "Screening decision")
EVIDENCE_IN_LUNGS = Code("CXR-EVIDENCE-LUNGS", PRIVATE, "Grad-CAM share inside the lung fields")
DISCLAIMER = Code("CXR-DISCLAIMER", PRIVATE, "Disclaimer")
# Private: the Grad-CAM heatmap's real world value (Parametric Map), a relative weight in [0, 1].
HEATMAP = Code("CXR-GRADCAM", PRIVATE, "Grad-CAM relative evidence")
# TID 1500 row 12 names the report-level container of qualitative evaluations with this UMLS code.
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
