"""`python -m training drift-reference` on the tiny model and a few generated films."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlcore.drift import FIGURE_NAMES, REFERENCE_FILENAME
from tests.support.drift_films import usual_films_write
from tests.support.services import REPO_ROOT
from training.cli import main

TINY = REPO_ROOT / "tests" / "fixtures" / "models" / "tiny"


def test_drift_reference_screens_the_val_films_and_writes_beside_the_card(tmp_path):
    toy_data = tmp_path / "usual"
    usual_films_write(root=toy_data, count=12, seed_base=7, label="normal")
    model_dir = tmp_path / "tiny"
    shutil.copytree(TINY, model_dir)
    (model_dir / REFERENCE_FILENAME).unlink(missing_ok=True)
    assert main(["drift-reference", "--model-dir", str(model_dir), "--data", str(toy_data)]) == 0
    ref = json.loads((model_dir / REFERENCE_FILENAME).read_text())
    val = sum(1 for line in (toy_data / "metadata.csv").read_text().splitlines() if ",val" in line)
    assert ref["model"] == "tiny" and ref["split"] == "val" and ref["films"] == val
    assert ref["counts"]["n_images"] == val and set(ref["figures"]) == set(FIGURE_NAMES)
    assert ref["figures"]["gate_distance_median"]["value"] > 0
    # Labelled films stand in for reviewers: agreement is the share screened as labelled.
    assert ref["counts"]["n_reviewed"] == ref["counts"]["n_accepted"]
    assert 0 <= ref["figures"]["agreement"]["value"] <= 1


def test_drift_reference_limit_draws_a_subset(tmp_path, toy_data):
    model_dir = tmp_path / "tiny"
    shutil.copytree(TINY, model_dir)
    argv = ["drift-reference", "--model-dir", str(model_dir), "--data", str(toy_data)]
    assert main([*argv, "--limit", "5"]) == 0
    assert json.loads((model_dir / REFERENCE_FILENAME).read_text())["films"] == 5


def test_shipped_and_tiny_models_carry_a_reference():
    for folder in (REPO_ROOT / "mlcore" / "weights" / "cxr-v3", TINY):
        ref = json.loads(Path(folder / REFERENCE_FILENAME).read_text())
        assert ref["model"] == folder.name and ref["films"] >= 100
        assert set(ref["figures"]) == set(FIGURE_NAMES)
