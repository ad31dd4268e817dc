"""How far gate 2's left-out figures move between fits that differ by rounding only.

The worst left-out source's share refused rests on a few images near the gate's bars, so one
fit's figure is one draw: features moved by 0.1 % of their spread move it by several points.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import card_load, card_save
from mlcore.gatemodel import TEXTURE_DEFAULT
from training.gatefit import GATE_REPORT, gate_items_get, loso_report
from training.gateitems import GateItems

REFIT_DRAWS = 3
REFIT_NOISE = 1e-3


def refits_report(
    *, items: GateItems, draws: int = REFIT_DRAWS, noise: float = REFIT_NOISE, seed: int = 0
) -> dict[str, Any]:
    """Leave sources out again, `draws` times, with features moved by `noise` of their spread."""
    rng = np.random.default_rng(seed)

    def moved(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        step = values.std(axis=0) * noise
        return values + rng.normal(size=values.shape).astype(np.float32) * step

    worst = []
    for _ in range(draws):
        report = loso_report(
            items=replace(items, features=moved(items.features), texture=moved(items.texture))
        )
        worst.append({"source": report["worst_source"], "refused": report["worst_refused"]})
    refused = [w["refused"] for w in worst if w["refused"] is not None]
    return {
        "draws": draws,
        "noise": noise,
        "worst": worst,
        "worst_refused_min": min(refused) if refused else None,
        "worst_refused_max": max(refused) if refused else None,
    }


def gate_refits_run(
    *,
    model_dir: Path,
    data: list[Path],
    ood: Path,
    items_cache: Path | None = None,
    feature_count: int | None = None,
    refit_draws: int | None = None,
    texture: str = TEXTURE_DEFAULT,
) -> dict[str, Any]:
    """Add the refit range to the card's gate report; `gate.npz` and thresholds stay as fitted.

    `refit_draws`: None gives REFIT_DRAWS.
    """
    from training.train import git_commit

    items = gate_items_get(
        model_dir=model_dir, data=data, ood=ood, items_cache=items_cache,
        feature_count=feature_count, texture=texture,
    )  # fmt: skip
    refits = {
        **refits_report(items=items, draws=REFIT_DRAWS if refit_draws is None else refit_draws),
        "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }
    card_path = model_dir / "card.json"
    card = card_load(path=card_path)
    card.evaluation["gate2"] = {**card.evaluation.get("gate2", {}), "refits": refits}
    card_save(card=card, path=card_path)
    (model_dir / "report").mkdir(exist_ok=True)
    path = model_dir / "report" / GATE_REPORT
    report = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**report, "refits": refits}, indent=2) + "\n")
    return refits
