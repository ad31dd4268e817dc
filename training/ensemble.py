"""Merge finished classifiers of one input size into one plain Keras model that averages them.

Each member's trunk is cloned into one graph (layer names prefixed `m0_`, `m1_`, ...), except
for the start they share unchanged (the frozen stem and first blocks of one ImageNet start),
which runs once (`shared_`); their last feature maps are concatenated, and one GAP feeds
heads whose kernels are the members' stacked and divided by the member count. GAP and the
heads are linear, so the logits are exactly the members' mean, the class-activation map
(Grad-CAM) is the mean of theirs, and the `.keras` file needs no custom code: every consumer
of a single model reads it unchanged.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import CARD_FILENAME, MODEL_FILENAME, ModelCard, card_load, card_save
from mlcore.classifier import CAM_LAYER, DISEASE_LAYER, GATE_LAYER
from training.config import ConfigError

HEADS = (DISEASE_LAYER, GATE_LAYER)
TOO_FEW = "an ensemble needs two or more members of one input size"


def _part_clone(*, start: Any, end: Any, onto: Any, prefix: str) -> Any:
    """Re-run the layers between tensors `start` and `end` on tensor `onto` as copies with
    prefixed names and the same weights; return the copy of `end`."""
    import keras

    part = keras.Model(start, end)
    copies: list[tuple[Any, Any]] = []

    def copy_of(layer: Any) -> Any:
        config = layer.get_config()
        config["name"] = f"{prefix}{layer.name}"
        copy = layer.__class__.from_config(config)
        copies.append((layer, copy))
        return copy

    # What keras.models.clone_model does inside, without wrapping the result in a model of
    # its own: a clone onto an intermediate tensor would get a disconnected input.
    out = part._run_through_graph(onto, operation_fn=copy_of)
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return out


def shared_stem_end(*, members: list[Any]) -> str | None:
    """Name the last layer of the members' common start: the layers, in order, whose weights
    every member holds unchanged (the frozen stem and first blocks of one ImageNet start), up
    to a layer whose output alone feeds the rest of the trunk. None when they share nothing."""
    import keras

    first, rest = members[0], members[1:]
    shared = None
    for layer in first.layers[1:]:
        weights = layer.get_weights()
        others = [m.get_layer(layer.name).get_weights() if _has(m, layer.name) else None
                  for m in rest]  # fmt: skip
        if any(o is None or not _same(weights, o) for o in others):
            break
        try:  # a cut of the graph: the rest of the trunk reads nothing from before it
            keras.Model(layer.output, first.get_layer(CAM_LAYER).input)
        except ValueError:
            continue
        shared = layer.name
    return shared


def _has(model: Any, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def ensemble_build(*, members: list[Any], dropout: float = 0.3) -> Any:
    """Return one two-head model whose outputs are the mean of the members' outputs."""
    import keras

    from training.model import heads_attach

    sizes = {int(m.input_shape[1]) for m in members}
    if len(members) < 2 or len(sizes) != 1:
        raise ConfigError(TOO_FEW)
    size = sizes.pop()
    image = keras.Input((size, size, 1), name="image")
    # The members' common start runs once; each member's own layers branch from it.
    cut = shared_stem_end(members=members)
    start = image
    if cut is not None:
        first = members[0]
        start = _part_clone(
            start=first.inputs[0], end=first.get_layer(cut).output, onto=image, prefix="shared_"
        )
    maps = [
        _part_clone(
            start=m.get_layer(cut).output if cut is not None else m.inputs[0],
            end=m.get_layer(CAM_LAYER).input,
            onto=start,
            prefix=f"m{i}_",
        )
        for i, m in enumerate(members)
    ]
    n_gate = int(members[0].get_layer(GATE_LAYER).units)
    model = heads_attach(
        image=image,
        features=keras.layers.Concatenate(name="members")(maps),
        n_classes=int(members[0].get_layer(DISEASE_LAYER).units),
        n_gate=n_gate,
        dropout=dropout,
        name="cxr_ensemble",
    )
    for head in HEADS:
        kernels, biases = zip(*(m.get_layer(head).get_weights() for m in members), strict=True)
        model.get_layer(head).set_weights(
            [np.concatenate(kernels) / len(members), np.mean(biases, axis=0)]
        )
    return model


def _member_record(*, card: ModelCard, path: Path) -> dict[str, Any]:
    keep = ("seed", "image_size", "flip", "epochs_run", "fit_seconds", "total_seconds")
    return {
        "folder": path.name,
        "name": card.name,
        "version": card.version,
        **{k: card.training.get(k) for k in keep if k in card.training},
    }


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
) -> ModelCard:
    """Write the merged model and its card to `out`, then refit its calibration on val."""
    from mlcore.classifier import keras_model_load
    from training.recalibrate import SEGMENTER_EVALUATION, recalibrate_run

    if len(member_dirs) < 2:
        raise ConfigError(TOO_FEW)
    cards = [card_load(path=d / CARD_FILENAME) for d in member_dirs]
    splits = {c.training.get("split_sha256") for c in cards}
    shifts = {c.view_shift for c in cards}
    if len(splits) != 1 or len(shifts) != 1:
        raise ConfigError("ensemble members must share their training split and view shift")
    members = [keras_model_load(path=d / MODEL_FILENAME) for d in member_dirs]
    out.mkdir(parents=True, exist_ok=True)
    merged = ensemble_build(members=members)
    merged.save(out / MODEL_FILENAME)
    card = cards[0]
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
        "ensembled_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    card.training["params"] = int(merged.count_params())
    card_save(card=card, path=out / CARD_FILENAME)
    for extra in ("lungs.keras", "lungs.json"):
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
