"""`python -m training gate`: fit gate 2 on a finished model and report it leaving sources out.

The gate is a multinomial logistic regression over image kinds on the trunk's whitened
principal scores and the image's evidence (lung-field measures, image statistics), with two
thresholds fitted on val chest films: P(frontal chest film) at the 0.2 % quantile, and the
feature distance at the 99.9 % quantile with 10 % slack. Leaving one
negative source out at a time, it is refitted without that source and tested on all of it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import card_load, card_save
from mlcore.classifier import TEXTURE_BLOCKS
from mlcore.gate import GateThresholds
from mlcore.gatemodel import (
    FRONTAL_KIND,
    GATE_MODEL_FILENAME,
    TEXTURE_DEFAULT,
    TEXTURE_READS,
    GateModel,
)
from training.finish import GATE_VAL_REFUSE_SHARE
from training.gateitems import GateItems, gate_items_collect, gate_items_load, gate_items_save

COMPONENTS = 64
# Share of val chest films P(frontal chest film) may refuse: the frontal bar sits there.
CHEST_REFUSE_SHARE = 0.002
FRONTAL_MIN_RANGE = (0.02, 0.5)
# The lung bounds only name a refusal ("no lung fields"), never make one: they reach past the
# val chest films' 2 % / 99.5 % quantiles (a whited-out lung leaves one field on sick films).
LUNG_BOUND_QUANTILES = (0.02, 0.995)
LUNG_BOUND_SLACK = 0.25
DISTANCE_SLACK = 1.1
# Val chest films refused by the novelty (rarer P(frontal) and residual together): it caught
# 0.95 of breast-ultrasound frames when their source was left out of the fit (0.81 without).
NOVELTY_REFUSE_SHARE = 0.001
GATE_REPORT = "gate2.json"


@dataclass(frozen=True)
class FittedGate:
    model: GateModel
    thresholds: dict[str, float]


def pca_fit(*, features: np.ndarray, components: int) -> tuple[np.ndarray, ...]:
    """Mean, principal axes and their standard deviations of (N, K) features."""
    mean = features.mean(axis=0, dtype=np.float64)
    centred = features - mean
    # The K x K covariance's eigenvectors: the SVD of the (N, K) matrix gives the same axes
    # at many times the cost.
    values, vectors = np.linalg.eigh(centred.T @ centred / max(len(features) - 1, 1))
    k = min(components, len(features), len(values))
    order = np.argsort(values)[::-1][:k]
    scale = np.sqrt(np.maximum(values[order], 0.0))
    return mean, vectors[:, order].T, np.maximum(scale, 1e-6)


def kinds_order(*, kinds: np.ndarray) -> tuple[str, ...]:
    """FRONTAL_KIND first, then the negative kinds in name order."""
    return (FRONTAL_KIND, *sorted(set(kinds.tolist()) - {FRONTAL_KIND}))


def texture_term_fit(*, texture: np.ndarray) -> dict[str, np.ndarray]:
    """Standardise (N, T) train chest films' texture rows and shrink their covariance
    (Ledoit-Wolf): the texture term's arrays."""
    from sklearn.covariance import LedoitWolf

    x = texture.astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    precision = LedoitWolf().fit((x - mean) / scale).precision_
    return {
        "texture_index": np.arange(texture.shape[1], dtype=np.int32),
        "texture_mean": mean.astype(np.float32),
        "texture_scale": scale.astype(np.float32),
        "texture_precision": precision.astype(np.float32),
    }


def gate_model_fit(*, train: GateItems, seed: int = 0) -> GateModel:
    """Whiten on the train chest films, then fit the kind classifier on all train items.

    With texture rows on the items, the texture term is fitted on the train chest films too.
    """
    from sklearn.linear_model import LogisticRegression

    chest = train.features[~train.negative]
    mean, axes, scale = pca_fit(features=chest, components=COMPONENTS)
    ev_mean, ev_scale = train.evidence.mean(axis=0), np.maximum(train.evidence.std(axis=0), 1e-3)
    kinds = kinds_order(kinds=train.kinds)
    x = np.concatenate(
        [((train.features - mean) @ axes.T) / scale, (train.evidence - ev_mean) / ev_scale], 1
    )
    y = np.array([kinds.index(k) for k in train.kinds])
    lr = LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000, random_state=seed)
    lr.fit(x, y)
    weights, bias = lr.coef_.T, lr.intercept_
    if len(kinds) == 2:  # one logit for the second kind: as two softmax columns, [0, z]
        weights = np.concatenate([np.zeros_like(weights), weights], axis=1)
        bias = np.concatenate([np.zeros_like(bias), bias])
    has_texture = train.texture is not None and train.texture.shape[1] > 0
    texture = texture_term_fit(texture=train.texture[~train.negative]) if has_texture else {}
    return GateModel(
        **texture,
        feature_mean=mean.astype(np.float32),
        components=axes.astype(np.float32),
        component_scale=scale.astype(np.float32),
        evidence_mean=ev_mean.astype(np.float32),
        evidence_scale=ev_scale.astype(np.float32),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        kinds=kinds,
    )


def frontal_and_distance(*, model: GateModel, items: GateItems) -> tuple[np.ndarray, np.ndarray]:
    """P(frontal chest film) and squared whitened distance of each item."""
    projected = model.project(features=items.features)
    probs = model.kind_probabilities(projected=projected, evidence=items.evidence)
    return probs[:, 0], (projected**2).sum(axis=1)


def novelty_of(*, model: GateModel, items: GateItems) -> np.ndarray:
    """(N,) log tail probability of each item among val chest films (lower is rarer; 0s
    without references)."""
    frontal, _ = frontal_and_distance(model=model, items=items)
    residual = model.residual(features=items.features)
    terms = model.novelty_terms(frontal=frontal, residual=residual, texture=items.texture)
    return np.sum(terms, axis=0) if terms is not None else np.zeros(len(frontal))


def references_fit(*, model: GateModel, chest: GateItems) -> GateModel:
    """Keep val chest films' log P(frontal) and residuals in the model, for the novelty.

    With as many axes as features nothing lies off them: no references, no novelty.
    """
    if model.components.shape[0] >= model.components.shape[1]:
        return model
    frontal, _ = frontal_and_distance(model=model, items=chest)
    texture = model.texture_distance(texture=chest.texture)
    return replace(
        model,
        reference_log_frontal=np.sort(np.log(np.clip(frontal, 1e-9, 1.0))).astype(np.float32),
        reference_residual=np.sort(model.residual(features=chest.features)).astype(np.float32),
        reference_texture=None if texture is None else np.sort(texture).astype(np.float32),
    )


def val_chest_of(*, val: GateItems) -> GateItems:
    """The val chest films the rules pass: what every threshold is fitted on."""
    passed = val.subset(~val.rule_refused)
    chest = passed.subset(~passed.negative)
    if not len(chest.kinds):
        raise ValueError("no val chest film passed the gate's rules: nothing to fit on")
    return chest


def thresholds_fit(*, model: GateModel, chest: GateItems) -> dict[str, float]:
    """Fit the frontal bar, the distance limit, the novelty and the lung bounds on val films."""
    p_chest, d_chest = frontal_and_distance(model=model, items=chest)
    sides = np.concatenate([chest.evidence[:, 1], chest.evidence[:, 2]])
    low, high = np.quantile(sides, LUNG_BOUND_QUANTILES)
    frontal = np.clip(np.quantile(p_chest, CHEST_REFUSE_SHARE), *FRONTAL_MIN_RANGE)
    novelty = novelty_of(model=model, items=chest)
    return {
        "frontal_min": float(frontal),
        "novelty_min": float(np.quantile(novelty, NOVELTY_REFUSE_SHARE)),
        "mahalanobis_max": float(np.quantile(d_chest, 1 - GATE_VAL_REFUSE_SHARE) * DISTANCE_SLACK),
        "lung_side_min": float(low * (1 - LUNG_BOUND_SLACK)),
        "lung_side_max": float(min(1.0, high * (1 + LUNG_BOUND_SLACK))),
    }


def gate_fit(*, items: GateItems) -> FittedGate:
    """Fit on the readable train items, references and thresholds on val chest films."""
    model = gate_model_fit(train=items.subset((items.splits == "train") & items.readable))
    chest = val_chest_of(val=items.subset(items.splits == "val"))
    model = references_fit(model=model, chest=chest)
    return FittedGate(model, thresholds_fit(model=model, chest=chest))


def refused_of(*, fitted: FittedGate, items: GateItems) -> np.ndarray:
    """Which items the rules or the fitted gate refuse."""
    p, d = frontal_and_distance(model=fitted.model, items=items)
    t = fitted.thresholds
    novel = novelty_of(model=fitted.model, items=items) < t["novelty_min"]
    return items.rule_refused | (p < t["frontal_min"]) | (d > t["mahalanobis_max"]) | novel


def loso_report(*, items: GateItems) -> dict[str, Any]:
    """Refit without each negative source; refuse rate on all of that source's images."""
    rows = {}
    for source in sorted(set(items.sources[items.negative].tolist())):
        if source.startswith("synthetic"):
            continue
        held = items.negative & (items.sources == source)
        fitted = gate_fit(items=items.subset(~held))
        refused = refused_of(fitted=fitted, items=items.subset(held))
        kinds = sorted(set(items.kinds[held].tolist()))
        rows[source] = {"n": int(held.sum()), "kinds": kinds, "refused": float(refused.mean())}
    worst = min(rows, key=lambda s: rows[s]["refused"]) if rows else None
    return {
        "sources": rows,
        "worst_source": worst,
        "worst_refused": rows[worst]["refused"] if worst else None,
    }


def split_report(*, fitted: FittedGate, items: GateItems, split: str) -> dict[str, Any]:
    """Chest films accepted and negatives refused on one split, negatives by kind."""
    part = items.subset(items.splits == split)
    refused = refused_of(fitted=fitted, items=part)
    neg = part.negative
    by_kind = {
        k: float(refused[part.kinds == k].mean()) for k in sorted(set(part.kinds[neg].tolist()))
    }
    return {
        "chest_accepted": float((~refused[~neg]).mean()),
        "chest_n": int((~neg).sum()),
        "negatives_refused": float(refused[neg].mean()),
        "negatives_n": int(neg.sum()),
        "negatives_by_kind": by_kind,
    }


def gate_items_get(
    *,
    model_dir: Path,
    data: list[Path],
    ood: Path,
    items_cache: Path | None = None,
    feature_count: int | None = None,
    texture: str = TEXTURE_DEFAULT,
) -> GateItems:
    """Read the featurised items from `items_cache`, or featurise them (and write the cache).

    `feature_count`: keep the first K pooled features only (an ensemble's first member).
    `texture`: which texture columns the gate's texture term reads (TEXTURE_READS).
    """
    if texture not in TEXTURE_READS:
        raise ValueError(f"texture must be one of {TEXTURE_READS}, not {texture!r}")
    if items_cache is not None and items_cache.is_file():
        items = gate_items_load(path=items_cache)
    else:
        from mlcore.pipeline import Screener

        screener = Screener.load(name=model_dir.name, weights_dir=model_dir.parent)
        if screener.segmenter is None:
            raise ValueError(f"{model_dir} has no lung segmenter: run `training segment`")
        items = gate_items_collect(screener=screener, data=data, ood=ood)
        if items_cache is not None:
            gate_items_save(items=items, path=items_cache)
    if feature_count is not None:
        items = replace(items, features=items.features[:, :feature_count])
    if items.texture is None and texture != "off":
        print(
            f"note: no texture rows (a classifier without {TEXTURE_BLOCKS}, or a cache "
            "written before them): the gate's novelty reads no texture",
            file=sys.stderr,
        )
    if texture == "off" or items.texture is None:
        return replace(items, texture=None)
    if texture == "means":
        items = replace(items, texture=items.texture[:, : items.texture.shape[1] // 2])
    return items


def gate_run(
    *,
    model_dir: Path,
    data: list[Path],
    ood: Path,
    items_cache: Path | None = None,
    feature_count: int | None = None,
    refit_draws: int | None = None,
    version: str = "",
    texture: str = TEXTURE_DEFAULT,
) -> dict[str, Any]:
    """Featurise, fit, report and write `gate.npz` + the card's gate thresholds and report.

    `items_cache`: an .npz of the featurised items, read when it exists, else written.
    `feature_count`: fit on the first K pooled features only (an ensemble's first member).
    `refit_draws`: left-out refits again under rounding-sized noise (0: none; None: 3).
    `version`: the card's new version (a refitted gate changes the model); empty keeps it.
    `texture`: which texture columns the novelty's texture term reads (TEXTURE_READS).
    """
    from training.gaterefits import REFIT_DRAWS, refits_report

    refit_draws = REFIT_DRAWS if refit_draws is None else refit_draws
    items = gate_items_get(
        model_dir=model_dir, data=data, ood=ood, items_cache=items_cache,
        feature_count=feature_count, texture=texture,
    )  # fmt: skip
    fitted = gate_fit(items=items)
    report = {
        "val": split_report(fitted=fitted, items=items, split="val"),
        "test": split_report(fitted=fitted, items=items, split="test"),
        "leave_one_source_out": loso_report(items=items),
        "refits": refits_report(items=items, draws=refit_draws) if refit_draws else None,
        "thresholds": fitted.thresholds,
        "components": COMPONENTS,
        "features_read": int(items.features.shape[1]),
        "texture_read": 0 if items.texture is None else int(items.texture.shape[1]),
        "kinds": list(fitted.model.kinds),
    }
    fitted.model.save(path=model_dir / GATE_MODEL_FILENAME)
    card_path = model_dir / "card.json"
    card = card_load(path=card_path)
    gate = {**card.gate, **fitted.thresholds}
    known = set(GateThresholds.__dataclass_fields__)
    card = replace(card, gate={k: v for k, v in gate.items() if k in known})
    if version and version != card.version:
        from training.train import git_commit

        card.training["gate_refitted"] = {
            "from_version": card.version,
            "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
        }
        card = replace(card, version=version)
    card.evaluation["gate2"] = report
    card_save(card=card, path=card_path)
    (model_dir / "report").mkdir(exist_ok=True)
    (model_dir / "report" / GATE_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return report
