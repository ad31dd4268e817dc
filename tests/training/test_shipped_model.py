"""The shipped model on the real data (skipped when ../shared/data is absent, failed in CI)."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.registry import DEFAULT_MODEL_NAME, model_card_read

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def shipped():
    from mlcore.pipeline import Screener

    return Screener.load(name=DEFAULT_MODEL_NAME)


@pytest.fixture(scope="module")
def test_split_screened(shipped, shared_data):
    from training.data import table_filter, table_read
    from training.screenpass import file_decode, items_screen

    table = table_filter(table=table_read(root=shared_data / "cxr"), split="test")
    items = [file_decode(path=table.root / r["file"]) for r in table.rows]
    return table, items_screen(screener=shipped, items=items, desc="test")


def test_card_is_complete():
    card = model_card_read()
    assert card.evaluation["test"]["macro_auc"] > 0.9
    assert card.training["split_sha256"] and card.temperature > 0


def test_gate_accepts_cxr_test_split(test_split_screened):
    _, screened = test_split_screened
    assert screened.accepted.mean() >= 0.99


def test_macro_auc_matches_card(test_split_screened):
    from training.data import label_indices
    from training.metrics import metrics_compute

    table, screened = test_split_screened
    m = metrics_compute(probs=screened.probs, labels=label_indices(labels=table.column("label")))
    assert m["macro_auc"] >= model_card_read().evaluation["test"]["macro_auc"] - 0.005


def test_gate_refuses_heldout_ood_and_generated(shipped, shared_data):
    from training.gatereport import negatives_collect
    from training.screenpass import items_screen

    items, kinds, groups = negatives_collect(ood=shared_data / "ood")
    keep = [i for i, g in enumerate(groups) if g in ("ood-heldout", "synthetic", "dicom")]
    screened = items_screen(screener=shipped, items=[items[i] for i in keep], desc="negatives")
    assert (~screened.accepted).mean() >= 0.99, np.array(kinds)[keep][screened.accepted]
