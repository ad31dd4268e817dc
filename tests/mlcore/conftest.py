"""Fixtures for the model tests: the committed tiny trained model and generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.services import REPO_ROOT

FIXTURE_WEIGHTS = REPO_ROOT / "tests" / "fixtures" / "models"


@pytest.fixture(scope="session")
def tiny_weights_dir() -> Path:
    return FIXTURE_WEIGHTS


@pytest.fixture(scope="session")
def tiny_screener(tiny_weights_dir):
    from mlcore.pipeline import Screener

    return Screener.load(name="tiny", weights_dir=tiny_weights_dir)


@pytest.fixture(scope="session")
def tiny_network(tiny_weights_dir, tiny_screener):
    """The tiny model's Keras network as loaded (the Classifier keeps only its folded copy)."""
    from mlcore.ensemble import model_network_load

    return model_network_load(folder=tiny_weights_dir / "tiny", card=tiny_screener.card)


@pytest.fixture(scope="session")
def toy_images() -> dict[str, list[np.ndarray]]:
    """Four generated chest-like images per class (the tiny model's training distribution)."""
    from mlcore.labels import LABELS
    from training.toydata import toy_image

    return {
        label: [toy_image(label=label, seed=900_000 + 10 * i + k, size=(96, 104)) for i in range(4)]
        for k, label in enumerate(LABELS)
    }


@pytest.fixture
def toy_png(toy_images) -> bytes:
    from mlcore.testing.files import png_bytes

    return png_bytes(pixels=toy_images["pneumonia"][0])
