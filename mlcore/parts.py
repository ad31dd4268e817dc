"""Load what a Screener runs from a model folder: its networks, gate statistics and gate 2."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mlcore.card import GATE_STATS_FILENAME, ModelCard
from mlcore.errors import ModelUnavailableError
from mlcore.gatemodel import GATE_MODEL_FILENAME, gate_model_load
from mlcore.screenresult import gate_stats_load

logger = logging.getLogger(__name__)


def screener_parts_load(
    *, folder: Path, card: ModelCard, compiled_dir: Path | None = None
) -> dict[str, Any]:
    """Return the Screener's keyword arguments besides its card.

    With `compiled_dir` the networks run as cached LiteRT flatbuffers (mlcore.compiled) and
    this process never imports TensorFlow; without it, or when they cannot be built, as
    Keras networks.
    """
    mean = precision = None
    if (folder / GATE_STATS_FILENAME).is_file():
        mean, precision = gate_stats_load(path=folder / GATE_STATS_FILENAME)
    networks = None
    if compiled_dir is not None:
        from mlcore.compiled import compiled_networks_load

        try:
            networks = compiled_networks_load(folder=folder, card=card, cache_dir=compiled_dir)
        except ModelUnavailableError as exc:
            # Slower is better than down: the Keras networks give the same answers.
            logger.warning("Running %s as Keras networks: %s", card.name, exc)
    if networks is None:
        networks = keras_networks_load(folder=folder, card=card)
    return {
        **networks,
        "gate_mean": mean,
        "gate_precision": precision,
        "gate_model": gate_model_load(path=folder / GATE_MODEL_FILENAME),
    }


def keras_networks_load(*, folder: Path, card: ModelCard) -> dict[str, Any]:
    """Return the Screener's `classifier` and `segmenter` as Keras networks (imports TensorFlow)."""
    from mlcore.classifier import Classifier
    from mlcore.ensemble import model_network_load
    from mlcore.segmenter import LungSegmenter

    model = model_network_load(folder=folder, card=card)
    try:
        classifier = Classifier(
            model=model, temperature=card.temperature, view_shift=card.view_shift
        )
    except Exception as exc:
        raise ModelUnavailableError(f"model {card.name!r} is not usable: {exc}") from exc
    return {"classifier": classifier, "segmenter": LungSegmenter.load(folder=folder)}
