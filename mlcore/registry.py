"""The model registry: mlcore/weights/<name>/{card.json, model.keras or the card's members}.

CONTRACT: nothing here imports TensorFlow (the web process reads cards for /healthz).
- DEFAULT_MODEL_NAME: the one place the default model is named.
- weights_root() -> Path (env CXR_WEIGHTS_DIR overrides mlcore/weights).
- model_dir_resolve(*, name=None) -> Path
- model_card_read(*, name=None) -> ModelCard  (raises ModelUnavailableError)
- model_files_check(*, name=None) -> ModelCard  (also checks each .keras is a sound archive)
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from mlcore.card import CARD_FILENAME, ModelCard, card_load, card_network_files
from mlcore.errors import ModelUnavailableError

DEFAULT_MODEL_NAME = "cxr-v3"
WEIGHTS_ENV = "CXR_WEIGHTS_DIR"

# Names become folder names: refuse anything that could walk out of the weights root.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def weights_root(*, weights_dir: Path | str | None = None) -> Path:
    """Return the folder holding one sub-folder per model."""
    if weights_dir is not None:
        return Path(weights_dir)
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "weights"


def model_name_resolve(*, name: str | None = None) -> str:
    """Return `name` or the default, checked to be a safe folder name."""
    name = name or DEFAULT_MODEL_NAME
    if not _NAME_RE.match(name) or ".." in name:
        raise ModelUnavailableError(f"invalid model name: {name!r}")
    return name


def model_dir_resolve(*, name: str | None = None, weights_dir: Path | str | None = None) -> Path:
    """Return the model's folder; raise ModelUnavailableError if it does not exist."""
    name = model_name_resolve(name=name)
    root = weights_root(weights_dir=weights_dir)
    path = root / name
    if not path.is_dir():
        raise ModelUnavailableError(
            f"model {name!r} not found in {root} (train it with "
            f"`python -m training train --out {root / name}` or set {WEIGHTS_ENV})"
        )
    return path


def model_card_read(*, name: str | None = None, weights_dir: Path | str | None = None) -> ModelCard:
    """Read the card of a model; raise ModelUnavailableError if missing or corrupt."""
    path = model_dir_resolve(name=name, weights_dir=weights_dir)
    card = card_load(path=path / CARD_FILENAME)
    for filename in card_network_files(card=card):
        if not (path / filename).is_file():
            raise ModelUnavailableError(f"model file not found: {path / filename}")
    return card


def model_files_check(
    *, name: str | None = None, weights_dir: Path | str | None = None
) -> ModelCard:
    """Read the card and check its .keras files are sound archives, without loading TensorFlow."""
    card = model_card_read(name=name, weights_dir=weights_dir)
    label = model_name_resolve(name=name)
    folder = model_dir_resolve(name=name, weights_dir=weights_dir)
    for filename in card_network_files(card=card):
        if not _keras_archive_sound(path=folder / filename):
            raise ModelUnavailableError(f"model {label}: file {filename} is corrupt")
    return card


def _keras_archive_sound(*, path: Path) -> bool:
    """Return True when a .keras file is a zip archive holding its model's config."""
    # A truncated or garbage file fails here, cheaply enough for every /healthz call.
    if path.stat().st_size == 0 or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return "config.json" in archive.namelist()
