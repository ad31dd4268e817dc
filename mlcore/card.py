"""The model card: what a trained model is, how it was made, how well it did.

Pure Python (no TensorFlow): the web process reads cards for /healthz.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlcore.errors import ModelUnavailableError
from mlcore.labels import LABELS

CARD_FILENAME = "card.json"
MODEL_FILENAME = "model.keras"
GATE_STATS_FILENAME = "gate_stats.npz"


@dataclass
class ModelCard:
    """Everything needed to run and judge a saved model, stored as card.json."""

    name: str
    version: str
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    input_size: int = 128
    preprocessing: str = ""
    temperature: float = 1.0
    # Test-time views: run copies moved by +-view_shift px and average (0: the image alone).
    # Temperature, gate statistics and thresholds are fitted with the same views.
    view_shift: int = 0
    # The classifier sees the box around the lung fields (mlcore.lungs.lung_box), not the film.
    lung_crop: bool = False
    gate: dict[str, Any] = field(default_factory=dict)
    gate_labels: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    # name -> {covid_min, pneumonia_min, targets, rule, figures} (mlcore.operating_point);
    # the decision a screen reports is made at one of them, the default unless told.
    operating_points: dict[str, Any] = field(default_factory=dict)
    default_operating_point: str = ""
    # The networks averaged at load (mlcore.ensemble), one .keras file each; none: model.keras.
    members: list[str] = field(default_factory=list)
    created_utc: str = ""
    git_commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def card_network_files(*, card: ModelCard) -> list[str]:
    """Name the `.keras` files of a model folder: its members, or model.keras alone."""
    for member in card.members:
        # Names inside the model's own folder only: a card never reaches past it.
        if not isinstance(member, str) or Path(member).name != member or member in ("", ".", ".."):
            raise ModelUnavailableError(f"model card {card.name!r}: bad member {member!r}")
    return list(card.members) or [MODEL_FILENAME]


def card_from_dict(*, data: dict[str, Any]) -> ModelCard:
    """Build a card from parsed JSON, ignoring keys this version does not know."""
    known = set(ModelCard.__dataclass_fields__)
    missing = {"name", "version"} - set(data)
    if missing:
        raise ModelUnavailableError(f"model card is missing {sorted(missing)}")
    return ModelCard(**{k: v for k, v in data.items() if k in known})


def card_load(*, path: Path) -> ModelCard:
    """Read card.json at `path`; raise ModelUnavailableError if missing or corrupt."""
    if not path.is_file():
        raise ModelUnavailableError(f"model card not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailableError(f"model card is unreadable: {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelUnavailableError(f"model card is not a JSON object: {path}")
    try:
        return card_from_dict(data=data)
    except TypeError as exc:
        raise ModelUnavailableError(f"model card is invalid: {path}: {exc}") from exc


def card_save(*, card: ModelCard, path: Path) -> None:
    """Write the card as pretty JSON (atomic rename so readers never see half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
