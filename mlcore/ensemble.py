"""Average finished classifiers of one input size in one plain Keras graph, built at load.

A model whose card lists `members` ships each network as its own `.keras` file; the portal
reads them through `model_network_load`, which builds one graph: the start the members share
unchanged (the frozen stem and first blocks of one ImageNet start) runs once (`shared_`), each
member's own layers branch from it (`m0_`, `m1_`, ...), their last feature maps are
concatenated, and one GAP feeds heads whose kernels are the members' stacked and divided by the
member count. GAP and the heads are linear, so the logits are exactly the members' mean and the
class-activation map (Grad-CAM) is the mean of theirs: every consumer of a single network reads
the graph unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import ModelCard, card_network_files
from mlcore.classifier import CAM_LAYER, DISEASE_LAYER, GATE_LAYER, keras_model_load
from mlcore.errors import ModelUnavailableError

HEADS = (DISEASE_LAYER, GATE_LAYER)
TOO_FEW = "an ensemble needs two or more members of one input size"


def model_network_load(*, folder: Path, card: ModelCard) -> Any:
    """Return the card's Keras network: model.keras, or its members averaged in one graph."""
    networks = [keras_model_load(path=folder / f) for f in card_network_files(card=card)]
    if len(networks) == 1:
        return networks[0]
    try:
        return ensemble_build(members=networks)
    except ValueError as exc:
        raise ModelUnavailableError(f"model {card.name!r}: members: {exc}") from exc


def heads_attach(
    *, image: Any, features: Any, n_classes: int, n_gate: int, dropout: float, name: str
) -> Any:
    """Add "cam_features" -> GAP -> disease and gate heads to a trunk; return the model."""
    import keras
    from keras import layers

    x = layers.Identity(name=CAM_LAYER)(features)
    pooled = layers.GlobalAveragePooling2D(name="gap")(x)
    dropped = layers.Dropout(dropout, name="dropout")(pooled)
    disease = layers.Dense(n_classes, name=DISEASE_LAYER)(dropped)
    gate = layers.Dense(n_gate, name=GATE_LAYER)(pooled)
    return keras.Model(image, {DISEASE_LAYER: disease, GATE_LAYER: gate}, name=name)


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

    sizes = {int(m.input_shape[1]) for m in members}
    if len(members) < 2 or len(sizes) != 1:
        raise ValueError(TOO_FEW)
    size = sizes.pop()
    image = keras.Input((size, size, 1), name="image")
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
    model = heads_attach(
        image=image,
        features=keras.layers.Concatenate(name="members")(maps),
        n_classes=int(members[0].get_layer(DISEASE_LAYER).units),
        n_gate=int(members[0].get_layer(GATE_LAYER).units),
        dropout=dropout,
        name="cxr_ensemble",
    )
    for head in HEADS:
        kernels, biases = zip(*(m.get_layer(head).get_weights() for m in members), strict=True)
        model.get_layer(head).set_weights(
            [np.concatenate(kernels) / len(members), np.mean(biases, axis=0)]
        )
    return model
