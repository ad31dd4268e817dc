"""Gate 2: a kind classifier on the trunk's features and the image's evidence, plus a distance.

The evidence is what the lung fields look like (mlcore.lungs) and the cheap image statistics
the rules read (mlcore.gate.rule_scores). `gate.npz` (written by `python -m training gate`)
holds a PCA whitening of the classifier's pooled features (half precision), the evidence
scaling and a multinomial logistic regression over image kinds. The card's `gate` dict holds
its thresholds. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.errors import ModelUnavailableError
from mlcore.gate import (
    REASON_COLOUR,
    REASON_CT_MR,
    REASON_LATERAL,
    REASON_MAMMOGRAM,
    REASON_NOT_CXR,
    REASON_OTHER_PART,
    REASON_ULTRASOUND,
    GateDecision,
    GateThresholds,
)
from mlcore.lungs import LUNG_FEATURE_COUNT, LungFields, lung_fields_plausible

GATE_MODEL_FILENAME = "gate.npz"
# The rules' image statistics the kind classifier also reads (speckle, contrast, exposure).
IMAGE_STAT_KEYS = ("std", "noise_ratio", "white", "mid")
EVIDENCE_COUNT = LUNG_FEATURE_COUNT + len(IMAGE_STAT_KEYS)
FRONTAL_KIND = "frontal_cxr"
REASON_NO_LUNGS = "no lung fields"
REASON_UNFAMILIAR = "not a chest radiograph (unlike any training film)"
# Which of the classifier's texture columns the novelty's texture term may read: none, the
# middle layers' per-channel means (the first half), or means and standard deviations.
TEXTURE_READS = ("off", "means", "means-stds")
TEXTURE_DEFAULT = "means"

# What each refused kind tells the user; "other_radiograph" is named by its lung fields.
KIND_REASONS = {
    "lateral_chest": REASON_LATERAL,
    "ct_slice": REASON_CT_MR,
    "mammogram": REASON_MAMMOGRAM,
    "ultrasound": REASON_ULTRASOUND,
    "photo": REASON_COLOUR,
    "other": REASON_NOT_CXR,
}


@dataclass(frozen=True)
class GateModel:
    """The arrays of `gate.npz`."""

    feature_mean: np.ndarray  # (K,)
    components: np.ndarray  # (P, K) principal axes
    component_scale: np.ndarray  # (P,) their standard deviations on train chest films
    evidence_mean: np.ndarray  # (E,)
    evidence_scale: np.ndarray  # (E,)
    weights: np.ndarray  # (P + E, C)
    bias: np.ndarray  # (C,)
    kinds: tuple[str, ...]  # (C,) class names, FRONTAL_KIND first
    # Val chest films' log P(frontal) and residuals, sorted: what the novelty ranks against.
    reference_log_frontal: np.ndarray | None = None
    reference_residual: np.ndarray | None = None
    # The texture term (optional): which of the classifier's texture columns it reads, their
    # standardisation and shrunk precision on train chest films, and val chest films' sorted
    # squared distances.
    texture_index: np.ndarray | None = None  # (T,) int
    texture_mean: np.ndarray | None = None  # (T,)
    texture_scale: np.ndarray | None = None  # (T,)
    texture_precision: np.ndarray | None = None  # (T, T)
    reference_texture: np.ndarray | None = None

    def _centred(self, features: np.ndarray) -> np.ndarray:
        """The first K pooled features (an ensemble's gate may read its first member's alone),
        minus their mean."""
        read = np.asarray(features, np.float32)[..., : self.feature_mean.shape[0]]
        return read - self.feature_mean

    def project(self, *, features: np.ndarray) -> np.ndarray:
        """(N, >= K) pooled features -> (N, P) whitened principal scores."""
        return (self._centred(features) @ self.components.T) / self.component_scale

    def residual(self, *, features: np.ndarray, projected: np.ndarray | None = None) -> np.ndarray:
        """(N,) squared norm of the features outside the chest films' principal axes.

        `projected`: the features' `project` scores when already known (saves a product).
        """
        centred = self._centred(features)
        scores = (
            centred @ self.components.T if projected is None else projected * self.component_scale
        )
        inside = scores @ self.components
        return ((centred - inside) ** 2).sum(axis=1)

    def texture_distance(self, *, texture: np.ndarray | None) -> np.ndarray | None:
        """(N,) squared Mahalanobis distance of (N, >= T) texture rows from train chest films;
        None when this gate or the classifier has no texture."""
        if self.texture_precision is None or texture is None or not np.size(texture):
            return None
        read = np.asarray(texture, np.float32)[..., self.texture_index.astype(int)]
        z = (read - self.texture_mean) / self.texture_scale
        return np.einsum("ni,ij,nj->n", z, self.texture_precision, z)

    def novelty_terms(
        self, *, frontal: np.ndarray, residual: np.ndarray, texture: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...] | None:
        """Log tail probabilities among val chest films: of P(frontal) this low, of a residual
        this high and, with a texture term, of a texture distance this high. None without
        references (an older gate.npz)."""
        if self.reference_log_frontal is None or self.reference_residual is None:
            return None
        log_frontal = np.log(np.clip(frontal, 1e-9, 1.0))
        terms = (
            tail_log_probability(reference=self.reference_log_frontal, values=log_frontal),
            tail_log_probability(reference=self.reference_residual, values=-residual, flip=True),
        )
        distance = self.texture_distance(texture=texture)
        if distance is None or self.reference_texture is None:
            return terms
        ref = self.reference_texture
        return (*terms, tail_log_probability(reference=ref, values=-distance, flip=True))

    def kind_probabilities(self, *, projected: np.ndarray, evidence: np.ndarray) -> np.ndarray:
        """(N, C) softmax over kinds from whitened scores and (N, E) evidence vectors."""
        scaled = (evidence - self.evidence_mean) / self.evidence_scale
        x = np.concatenate([projected, scaled], axis=1)
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, *, path: Path) -> None:
        np.savez_compressed(
            path,
            feature_mean=self.feature_mean.astype(np.float16),
            components=self.components.astype(np.float16),
            component_scale=self.component_scale.astype(np.float32),
            evidence_mean=self.evidence_mean.astype(np.float32),
            evidence_scale=self.evidence_scale.astype(np.float32),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            kinds=np.array(self.kinds),
            **{
                k: np.sort(getattr(self, k)).astype(np.float32)
                for k in ("reference_log_frontal", "reference_residual", "reference_texture")
                if getattr(self, k) is not None
            },
            **{
                k: getattr(self, k).astype(np.float32)
                for k in ("texture_mean", "texture_scale", "texture_precision")
                if getattr(self, k) is not None
            },
            **({} if self.texture_index is None else {"texture_index": self.texture_index}),
        )


def tail_log_probability(
    *, reference: np.ndarray, values: np.ndarray, flip: bool = False
) -> np.ndarray:
    """Log of the share of sorted `reference` at or below each value, (k + 1) / (n + 1).

    Below the reference's minimum it keeps falling, by one per standard deviation, so that an
    image far outside every val film is rarer than the rarest of them. `flip`: `values` are
    negated upper-tail values (the share at or above -value).
    """
    ref = -reference[::-1] if flip else reference
    k = np.searchsorted(ref, values, side="right")
    beyond = np.maximum(ref[0] - values, 0.0) / max(float(ref.std()), 1e-6)
    return np.log((k + 1.0) / (len(ref) + 1.0)) - beyond


def gate_model_load(*, path: Path) -> GateModel | None:
    """Read `gate.npz`; None when absent, ModelUnavailableError when unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        as_is = ("kinds", "texture_index")
        return GateModel(
            **{k: v.astype(np.float32) for k, v in arrays.items() if k not in as_is},
            kinds=tuple(str(k) for k in arrays["kinds"]),
            texture_index=arrays.get("texture_index"),
        )
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelUnavailableError(f"gate model unreadable: {path}: {exc}") from exc


def gate_evidence(*, fields: LungFields, image_stats: dict[str, float]) -> np.ndarray:
    """The lung-field measures and the image statistics as one float32 vector."""
    stats = [float(image_stats.get(k, 0.0)) for k in IMAGE_STAT_KEYS]
    return np.concatenate([fields.features(), np.array(stats, np.float32)])


def kind_reason(*, kind: str, fields: LungFields, thresholds: GateThresholds) -> str:
    """Name what the gate saw: the kind, or for another radiograph whether lungs are there."""
    if kind == "other_radiograph":
        bounds = (thresholds.lung_side_min, thresholds.lung_side_max)
        if not lung_fields_plausible(fields=fields, side_min=bounds[0], side_max=bounds[1]):
            return REASON_NO_LUNGS
        return REASON_OTHER_PART
    return KIND_REASONS.get(kind, REASON_NOT_CXR)


def _kind_refused(
    *, model: GateModel, probs: np.ndarray, fields: LungFields, thresholds: GateThresholds
) -> str:
    """The reason for an image refused as not a frontal chest film: its likeliest other kind."""
    kind = model.kinds[1 + int(np.argmax(probs[1:]))]
    return kind_reason(kind=kind, fields=fields, thresholds=thresholds)


def gate_model_check(
    *,
    model: GateModel,
    features: np.ndarray,
    fields: LungFields,
    image_stats: dict[str, float],
    thresholds: GateThresholds,
    texture: np.ndarray | None = None,
) -> GateDecision:
    """Judge one image: refuse when P(frontal chest film) is low or its features unfamiliar.

    `texture`: the classifier's texture row for the image (read when the gate has the term).
    """
    projected = model.project(features=features[None])
    evidence = gate_evidence(fields=fields, image_stats=image_stats)[None]
    probs = model.kind_probabilities(projected=projected, evidence=evidence)[0]
    distance = float((projected[0] ** 2).sum())
    scores = {f"p_{k}": float(p) for k, p in zip(model.kinds, probs, strict=True)}
    scores["distance_sq"] = distance
    scores["distance_dims"] = float(projected.shape[1])
    scores["lung_left_share"] = fields.left_share
    scores["lung_right_share"] = fields.right_share
    refused_as_kind = {"model": model, "probs": probs, "fields": fields, "thresholds": thresholds}
    if probs[0] < thresholds.frontal_min:
        return GateDecision(False, _kind_refused(**refused_as_kind), scores)
    if distance > thresholds.mahalanobis_max:
        return GateDecision(False, REASON_UNFAMILIAR, scores)
    residual = model.residual(features=features[None], projected=projected)
    if model.texture_precision is not None and texture is None:
        # Its novelty bar was fitted with the texture term: without it the gate lets more in.
        raise ModelUnavailableError("gate 2 reads a texture that this classifier does not give")
    rows = None if texture is None else np.asarray(texture)[None]
    terms = model.novelty_terms(frontal=probs[:1], residual=residual, texture=rows)
    if terms is not None:
        values = [float(term[0]) for term in terms]
        scores["novelty_log"] = sum(values)
        if len(values) > 2:
            scores["novelty_texture_log"] = values[2]
        if scores["novelty_log"] < thresholds.novelty_min:
            # Named by its kind when its P(frontal) is the rarest part, else unfamiliar.
            if values[0] <= min(values[1:]):
                return GateDecision(False, _kind_refused(**refused_as_kind), scores)
            return GateDecision(False, REASON_UNFAMILIAR, scores)
    return GateDecision(True, None, scores)
