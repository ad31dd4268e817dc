"""Fixtures for training tests: a generated data set (the real one is `shared_data`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    from training.toydata import toy_dataset_write

    return toy_dataset_write(root=tmp_path_factory.mktemp("toy"), n_per_class=12, seed=1, size=72)


@pytest.fixture(scope="session")
def one_view_model(tmp_path_factory, toy_data) -> Path:
    """One tiny trained model (one view), trained once: tests copy it before changing it."""
    from tests.training.test_cli import tiny_train

    out = tmp_path_factory.mktemp("one-view") / "toy"
    tiny_train(out=out, data=toy_data, extra=("--view-shift", "0"))
    return out
