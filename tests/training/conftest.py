"""Fixtures for training tests: a generated data set and the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    from training.toydata import toy_dataset_write

    return toy_dataset_write(root=tmp_path_factory.mktemp("toy"), n_per_class=12, seed=1, size=72)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (SHARED_DATA / "cxr" / "metadata.csv").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
