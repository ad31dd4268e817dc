"""Input gate: is this a frontal chest radiograph? Cheap rules first, then learned scores.

Reasons are fixed strings the portal shows to users.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlcore.preprocess import grayscale_convert

REASON_COLOUR = "colour photograph"
REASON_NOT_CXR = "not a chest radiograph"
REASON_LATERAL = "lateral view"
REASON_CT_MR = "CT or MR slice"
REASON_TOO_SMALL = "image too small"
REASON_BLANK = "blank image"
REASON_NOISE = "noise image"
REASON_ASPECT = "extreme aspect ratio"
REASON_DOCUMENT = "document or screenshot"
REASON_MAMMOGRAM = "mammogram"
REASON_ULTRASOUND = "ultrasound image"
REASON_OTHER_PART = "radiograph of another body part"

# What the learned head's negative classes mean for the user.
GATE_CLASS_REASONS = {
    "lateral_chest": REASON_LATERAL,
    "other_radiograph": REASON_NOT_CXR,
    "ct_slice": REASON_CT_MR,
    "other": REASON_NOT_CXR,
}
# What a DICOM header's Modality (0008,0060) says an image is, when not a radiograph.
MODALITY_REASONS = {
    **dict.fromkeys(("CT", "MR", "PT", "NM", "OCT"), REASON_CT_MR),
    **dict.fromkeys(("US", "IVUS"), REASON_ULTRASOUND),
    "MG": REASON_MAMMOGRAM,
    **dict.fromkeys(("IO", "PX"), REASON_OTHER_PART),  # intra-oral and panoramic dental films
    **dict.fromkeys(("XC", "OP", "ES", "SM", "GM"), REASON_COLOUR),  # cameras, microscopes
}
# View Position (0018,5101) terms of a lateral projection.
LATERAL_VIEW_POSITIONS = {"LL", "RL", "LATERAL"}
# Body Part Examined (0018,0015) terms (DICOM CID 4031) that no chest film is filed under.
# Deliberately short: trunk terms (ABDOMEN, SPINE, WHOLEBODY) can hold a chest film.
OTHER_BODY_PARTS = {
    "SKULL", "HEAD", "BRAIN", "FACE", "JAW", "TMJ", "SINUS", "NECK", "BREAST", "PELVIS",
    "HIP", "SACRUM", "COCCYX", "CSPINE", "LSPINE", "SSPINE", "SHOULDER", "CLAVICLE", "ARM",
    "HUMERUS", "ELBOW", "FOREARM", "WRIST", "HAND", "FINGER", "THUMB", "LEG", "FEMUR",
    "KNEE", "PATELLA", "TIBIA", "FIBULA", "ANKLE", "HEEL", "FOOT", "TOE", "EXTREMITY",
}  # fmt: skip


@dataclass(frozen=True)
class GateThresholds:
    """Rule and learned thresholds; the learned ones are fitted at training time."""

    min_side: int = 96
    max_aspect: float = 2.5
    colour_fraction: float = 0.08  # share of clearly coloured pixels above which it's a photo
    blank_std: float = 0.01  # darkest real film seen: 0.018; a blank image: 0
    noise_ratio: float = 0.45  # real films seen: max 0.33 (SIIM, squashed); pixel noise: >= 0.8
    document_white: float = 0.45  # share of near-white pixels ...
    document_mid: float = 0.12  # ... with few mid-grey pixels: a page, not a radiograph
    document_std: float = 0.15  # ... and high contrast (washed-out films are white but flat)
    frontal_min: float = 0.5  # min P(frontal_cxr) from the gate head
    mahalanobis_max: float = float("inf")  # max squared distance to training features
    # Gate 2's novelty: min log tail probability, among val chest films, of the image's
    # P(frontal chest film) and of its features' distance from the chest films' principal axes.
    novelty_min: float = float("-inf")
    # Plausible share of the content each lung field covers (gate 2's "no lung fields").
    lung_side_min: float = 0.0
    lung_side_max: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def thresholds_from_dict(*, data: dict[str, Any] | None) -> GateThresholds:
    """Build thresholds from a card's `gate` dict, ignoring unknown keys."""
    data = data or {}
    known = set(GateThresholds.__dataclass_fields__)
    return GateThresholds(**{k: v for k, v in data.items() if k in known and v is not None})


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    reason: str | None
    scores: dict[str, float] = field(default_factory=dict)


def _thumb(gray: np.ndarray, target: int = 256) -> np.ndarray:
    step = max(1, max(gray.shape) // target)
    return gray[::step, ::step]


def colour_fraction(*, pixels: np.ndarray) -> float:
    """Share of pixels whose channels differ by > 0.12 (0 for grayscale arrays)."""
    if pixels.ndim != 3 or pixels.shape[2] < 3:
        return 0.0
    rgb = _thumb(pixels[..., :3])
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float((chroma > 0.12).mean())


def rule_scores(*, pixels: np.ndarray) -> dict[str, float]:
    """Cheap statistics the rules look at, on a <= 256 px thumbnail."""
    gray = _thumb(grayscale_convert(pixels=pixels))
    std = float(gray.std())
    dx = np.abs(np.diff(gray, axis=1)).mean()
    dy = np.abs(np.diff(gray, axis=0)).mean()
    return {
        "std": std,
        "noise_ratio": float((dx + dy) / 2 / max(std, 1e-6)),
        "white": float((gray > 0.85).mean()),
        "mid": float(((gray > 0.25) & (gray < 0.75)).mean()),
        "colour": colour_fraction(pixels=np.asarray(pixels, np.float32)),
    }


def dicom_header_refusal(*, dicom: dict[str, str]) -> GateDecision | None:
    """Refuse what the DICOM header itself says is not a frontal chest radiograph."""
    modality = str(dicom.get("Modality", "")).strip().upper()
    if modality in MODALITY_REASONS:
        return GateDecision(False, MODALITY_REASONS[modality], {"dicom_modality": 1.0})
    part = str(dicom.get("BodyPartExamined", "")).strip().upper().replace(" ", "")
    if part in OTHER_BODY_PARTS:
        return GateDecision(False, REASON_OTHER_PART, {"dicom_body_part": 1.0})
    view = str(dicom.get("ViewPosition", "")).strip().upper()
    if view in LATERAL_VIEW_POSITIONS:
        return GateDecision(False, REASON_LATERAL, {"dicom_view_position": 1.0})
    return None


def gate_rules_check(
    *, pixels: np.ndarray, thresholds: GateThresholds, dicom: dict[str, str] | None = None
) -> GateDecision:
    """Apply the cheap rules; `accepted` here means 'passed the rules'."""
    header = dicom_header_refusal(dicom=dicom or {})
    if header is not None:
        return header
    h, w = pixels.shape[:2]
    if min(h, w) < thresholds.min_side:
        return GateDecision(False, REASON_TOO_SMALL, {"min_side": float(min(h, w))})
    if max(h, w) / max(1, min(h, w)) > thresholds.max_aspect:
        return GateDecision(False, REASON_ASPECT, {"aspect": max(h, w) / max(1, min(h, w))})
    s = rule_scores(pixels=pixels)
    if s["std"] < thresholds.blank_std:
        return GateDecision(False, REASON_BLANK, s)
    if s["colour"] > thresholds.colour_fraction:
        return GateDecision(False, REASON_COLOUR, s)
    # Pages before noise: sharp text edges also score high on the noise ratio.
    if (
        s["white"] > thresholds.document_white
        and s["mid"] < thresholds.document_mid
        and s["std"] > thresholds.document_std
    ):
        return GateDecision(False, REASON_DOCUMENT, s)
    if s["noise_ratio"] > thresholds.noise_ratio:
        return GateDecision(False, REASON_NOISE, s)
    return GateDecision(True, None, s)


def feature_distance(
    *, features: np.ndarray, mean: np.ndarray | None, precision: np.ndarray | None
) -> dict[str, float | int]:
    """Gate 1's squared Mahalanobis distance of pooled features and the features it summed
    (0 and 0 without statistics), as `gate_learned_check`'s keywords."""
    if mean is None or precision is None:
        return {"mahalanobis_sq": 0.0, "distance_dims": 0}
    d = features - mean
    return {"mahalanobis_sq": float(d @ precision @ d), "distance_dims": int(d.shape[-1])}


def gate_learned_check(
    *,
    gate_probabilities: np.ndarray,
    gate_labels: list[str],
    mahalanobis_sq: float,
    thresholds: GateThresholds,
    distance_dims: int = 0,
) -> GateDecision:
    """Refuse when the gate head doubts 'frontal_cxr' or the features look unfamiliar.

    `distance_dims`: how many features the distance summed (0: no statistics, no distance).
    """
    probs = np.asarray(gate_probabilities, dtype=np.float64)
    scores = {f"p_{k}": float(v) for k, v in zip(gate_labels, probs, strict=True)}
    scores["mahalanobis_sq"] = float(mahalanobis_sq)
    if distance_dims:
        scores["distance_dims"] = float(distance_dims)
    if probs[0] < thresholds.frontal_min:
        winner = gate_labels[1 + int(np.argmax(probs[1:]))]
        return GateDecision(False, GATE_CLASS_REASONS.get(winner, REASON_NOT_CXR), scores)
    if mahalanobis_sq > thresholds.mahalanobis_max:
        return GateDecision(False, REASON_NOT_CXR, scores)
    return GateDecision(True, None, scores)
