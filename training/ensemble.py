"""Make one model of finished classifiers of one input size: their networks, averaged.

Averaging outputs (the default), the new folder holds each member's network as its own
`.keras` file (`member-0.keras`, ...), listed in the card's `members`; `mlcore.ensemble` builds
the averaging graph at load, and a member that is itself an ensemble brings its own members.
Averaging weights (a model soup), it holds one network whose every weight is the members'
mean: members of one architecture, trained from one start (docs/model-experiments.md).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import (
    CARD_FILENAME,
    MODEL_FILENAME,
    ModelCard,
    card_load,
    card_network_files,
    card_save,
)
from mlcore.ensemble import TOO_FEW, model_network_load
from mlcore.errors import ModelUnavailableError
from training.config import ConfigError

LUNG_FILES = ("lungs.keras", "lungs.json")
AVERAGES = ("outputs", "weights")


def member_filename(*, index: int) -> str:
    """Name the file of an ensemble's `index`-th network."""
    return f"member-{index}.keras"


def _member_record(*, card: ModelCard, path: Path) -> dict[str, Any]:
    keep = ("seed", "image_size", "flip", "augment", "epochs_run", "fit_seconds", "total_seconds")
    return {
        "folder": path.name,
        "name": card.name,
        "version": card.version,
        **{k: card.training.get(k) for k in keep if k in card.training},
    }


def members_write(*, member_dirs: list[Path], cards: list[ModelCard], out: Path) -> list[str]:
    """Copy every member's network files into `out`, numbered; return their names."""
    sources = [d / f for d, c in zip(member_dirs, cards, strict=True)
               for f in card_network_files(card=c)]  # fmt: skip
    names = [member_filename(index=i) for i in range(len(sources))]
    staged = [out / f".{name}.tmp" for name in names]
    for source, tmp in zip(sources, staged, strict=True):
        shutil.copy2(source, tmp)
    for tmp, name in zip(staged, names, strict=True):
        tmp.replace(out / name)
    for stale in [MODEL_FILENAME, *(p.name for p in out.glob("member-*.keras"))]:
        if stale not in names:
            (out / stale).unlink(missing_ok=True)
    return names


def weights_mean(*, weight_lists: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Return the element-wise mean of networks' weights; ConfigError when their shapes differ."""
    shapes = {tuple(w.shape for w in weights) for weights in weight_lists}
    if len(shapes) != 1:
        raise ConfigError("a weight average needs members of one architecture")
    return [
        np.mean([weights[i] for weights in weight_lists], axis=0, dtype=np.float64).astype(w.dtype)
        for i, w in enumerate(weight_lists[0])
    ]


def weights_average_write(*, member_dirs: list[Path], cards: list[ModelCard], out: Path) -> None:
    """Write the members' mean weights as `out`'s one network (batch-norm statistics too)."""
    from mlcore.classifier import keras_model_load

    if any(c.members for c in cards):
        raise ConfigError("a weight average takes members of one network each")
    try:
        models = [keras_model_load(path=d / MODEL_FILENAME) for d in member_dirs]
    except ModelUnavailableError as exc:
        raise ConfigError(str(exc)) from exc
    if len({tuple(layer.name for layer in m.layers) for m in models}) != 1:
        raise ConfigError("a weight average needs members of one architecture")
    # Layer by layer: a frozen layer lists its weights in another order model-wide.
    for layer in models[0].layers:
        mean = weights_mean(weight_lists=[m.get_layer(layer.name).get_weights() for m in models])
        layer.set_weights(mean)
    staged = out / f".{MODEL_FILENAME}.tmp.keras"
    models[0].save(staged)
    staged.replace(out / MODEL_FILENAME)
    for stale in out.glob("member-*.keras"):
        stale.unlink()


def ensemble_run(
    *,
    member_dirs: list[Path],
    out: Path,
    data: list[Path],
    ood: Path | None,
    n_synthetic: int,
    cache_dir: Path | None,
    name: str,
    version: str,
    average: str = "outputs",
) -> ModelCard:
    """Write the members (or their mean weights) and the card to `out`, then refit its
    calibration on val."""
    from training.recalibrate import SEGMENTER_EVALUATION, recalibrate_run

    if len(member_dirs) < 2:
        raise ConfigError(TOO_FEW)
    cards = [card_load(path=d / CARD_FILENAME) for d in member_dirs]
    splits = {c.training.get("split_sha256") for c in cards}
    shifts = {c.view_shift for c in cards}
    if len(splits) != 1 or len(shifts) != 1:
        raise ConfigError("ensemble members must share their training split and view shift")
    if average not in AVERAGES:
        raise ConfigError(f"average must be one of {', '.join(AVERAGES)}")
    out.mkdir(parents=True, exist_ok=True)
    card = cards[0]
    if average == "weights":
        weights_average_write(member_dirs=member_dirs, cards=cards, out=out)
        card.members = []
    else:
        card.members = members_write(member_dirs=member_dirs, cards=cards, out=out)
    try:
        merged = model_network_load(folder=out, card=card)
    except ModelUnavailableError as exc:
        raise ConfigError(str(exc)) from exc
    card.name = name
    # The first member's points and figures are not the ensemble's: `operating-points` and
    # `evaluate --card` fit and measure its own. Its lung segmenter's figures come with it.
    card.operating_points, card.default_operating_point = {}, ""
    card.evaluation = {k: card.evaluation[k] for k in SEGMENTER_EVALUATION if k in card.evaluation}
    card.training = {
        **card.training,
        "ensemble": [
            _member_record(card=c, path=d) for c, d in zip(cards, member_dirs, strict=True)
        ],
        "ensemble_average": average,
        "ensembled_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "params": int(merged.count_params()),
    }
    card_save(card=card, path=out / CARD_FILENAME)
    for extra in LUNG_FILES:
        if (member_dirs[0] / extra).is_file() and not (out / extra).is_file():
            shutil.copy2(member_dirs[0] / extra, out / extra)
    return recalibrate_run(
        model_dir=out,
        data=data,
        view_shift=int(shifts.pop()),
        ood=ood,
        n_synthetic=n_synthetic,
        cache_dir=cache_dir,
        version=version,
    )
