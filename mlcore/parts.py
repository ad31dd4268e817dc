"""Load what a Screener runs from a model folder: its networks, gate statistics and gate 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcore.card import GATE_STATS_FILENAME, ModelCard
from mlcore.errors import ModelUnavailableError
from mlcore.gatemodel import GATE_MODEL_FILENAME, gate_model_load
from mlcore.screenresult import gate_stats_load


def screener_parts_load(*, folder: Path, card: ModelCard) -> dict[str, Any]:
    """Return the Screener's keyword arguments besides its card (TensorFlow is imported here)."""
    from mlcore.classifier import Classifier
    from mlcore.ensemble import model_network_load
    from mlcore.segmenter import LungSegmenter

    mean = precision = None
    if (folder / GATE_STATS_FILENAME).is_file():
        mean, precision = gate_stats_load(path=folder / GATE_STATS_FILENAME)
    model = model_network_load(folder=folder, card=card)
    try:
        classifier = Classifier(
            model=model, temperature=card.temperature, view_shift=card.view_shift
        )
    except Exception as exc:
        raise ModelUnavailableError(f"model {card.name!r} is not usable: {exc}") from exc
    return {
        "classifier": classifier,
        "gate_mean": mean,
        "gate_precision": precision,
        "segmenter": LungSegmenter.load(folder=folder),
        "gate_model": gate_model_load(path=folder / GATE_MODEL_FILENAME),
    }
