"""Registry and card: resolution, clear errors, and no TensorFlow import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mlcore.errors import ModelUnavailableError
from mlcore.registry import (
    DEFAULT_MODEL_NAME,
    model_card_read,
    model_dir_resolve,
    weights_root,
)


def test_default_and_env_override(monkeypatch, tmp_path):
    assert DEFAULT_MODEL_NAME == "cxr-v3"
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(tmp_path))
    assert weights_root() == tmp_path


def test_tiny_card_reads(tiny_weights_dir):
    card = model_card_read(name="tiny", weights_dir=tiny_weights_dir)
    assert card.labels == ["covid", "pneumonia", "normal"]
    assert card.temperature > 0 and "mahalanobis_max" in card.gate
    assert card.view_shift == 0  # a card written before test-time views runs the image alone


def test_missing_model_is_clear(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not found"):
        model_dir_resolve(name="nope", weights_dir=tmp_path)


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden"])
def test_unsafe_names_rejected(bad, tmp_path):
    with pytest.raises(ModelUnavailableError):
        model_dir_resolve(name=bad, weights_dir=tmp_path)


def test_corrupt_card(tmp_path, tiny_weights_dir):
    shutil.copytree(tiny_weights_dir / "tiny", tmp_path / "m")
    (tmp_path / "m" / "card.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="unreadable"):
        model_card_read(name="m", weights_dir=tmp_path)


def test_corrupt_model_file(tmp_path, tiny_weights_dir):
    from mlcore.pipeline import Screener

    shutil.copytree(tiny_weights_dir / "tiny", tmp_path / "m")
    (tmp_path / "m" / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelUnavailableError, match="unreadable"):
        Screener.load(name="m", weights_dir=tmp_path)


def test_missing_model_file(tmp_path, tiny_weights_dir):
    shutil.copytree(tiny_weights_dir / "tiny", tmp_path / "m")
    (tmp_path / "m" / "model.keras").unlink()
    with pytest.raises(ModelUnavailableError, match="model file not found"):
        model_card_read(name="m", weights_dir=tmp_path)


def test_card_keeps_unknown_keys_out(tmp_path, tiny_weights_dir):
    shutil.copytree(tiny_weights_dir / "tiny", tmp_path / "m")
    data = json.loads((tmp_path / "m" / "card.json").read_text())
    data["added_later"] = 1
    (tmp_path / "m" / "card.json").write_text(json.dumps(data))
    assert model_card_read(name="m", weights_dir=tmp_path).name == "tiny"


def test_registry_does_not_import_tensorflow():
    code = (
        "import sys, mlcore.registry, mlcore.card, mlcore.gate, mlcore.pipeline; "
        "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
