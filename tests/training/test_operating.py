"""`python -m training operating-points`: fit on val, judge on test, write the card."""

from __future__ import annotations

import json
import shutil

from mlcore.card import card_load
from mlcore.operating_point import operating_point_pick
from tests.support.services import REPO_ROOT
from training.cli import main

TINY = REPO_ROOT / "tests" / "fixtures" / "models" / "tiny"


def test_operating_points_are_fitted_on_val_and_written_to_the_card(tmp_path, toy_data, capsys):
    weights = tmp_path / "weights"
    shutil.copytree(TINY, weights / "tiny")
    code = main(
        [
            "operating-points", "--model", "tiny", "--weights-dir", str(weights),
            "--data", str(toy_data), "--screening-sensitivity", "0.9",
            "--screening-any-sensitivity", "0.9", "--bootstrap", "200",
        ]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = card_load(path=weights / "tiny" / "card.json")
    assert card.default_operating_point == printed["default"] == "screening"
    assert set(card.operating_points) == {"screening", "balanced"}
    screening = operating_point_pick(points=card.operating_points, default="screening")
    assert printed["screening"] == screening.thresholds
    assert screening.targets == {"covid": 0.9, "any_pneumonia": 0.9}
    val = screening.figures["val"]
    # Fitted on val: the targets hold there by construction.
    assert val["covid_vs_rest"]["sensitivity"]["value"] >= 0.9
    assert val["any_pneumonia_vs_normal"]["sensitivity"]["value"] >= 0.9
    test = screening.figures["test"]
    assert set(test) == {"cxr_covid_vs_rest", "cxr_any_pneumonia_vs_normal"}  # toy: no SIIM
    figures = test["cxr_covid_vs_rest"]
    assert figures["n_positive"] + figures["n_negative"] == card.evaluation["operating"]["n_test"]
    assert set(figures) >= {"sensitivity", "specificity", "ppv", "npv"}
    balanced = card.operating_points["balanced"]
    assert balanced["targets"] == {} and "Youden" in balanced["rule"]
    roc = card.evaluation["operating"]["roc"]["dev_test"]
    assert set(roc) == {"covid_vs_rest", "any_pneumonia_vs_normal"}
    assert len(roc["covid_vs_rest"]["fpr"]) <= 200
    # The rest of the card is untouched.
    assert card.temperature == card_load(path=TINY / "card.json").temperature
