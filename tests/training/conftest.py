"""Fixtures for training tests: a generated data set (the real one is `shared_data`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    from training.toydata import toy_dataset_write

    return toy_dataset_write(root=tmp_path_factory.mktemp("toy"), n_per_class=12, seed=1, size=72)
