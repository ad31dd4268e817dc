"""The contributor check: how much of an inside-source figure the publisher explains."""

from __future__ import annotations

import numpy as np
import pytest

from training.contributor import auc_within_groups, contributor_check, covid_share_by_group


def test_auc_within_groups_counts_only_pairs_that_share_a_group():
    # Group a ranks its pair right, group b wrong; across groups every pair would be right.
    y = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.3, 0.4])
    groups = np.array(["a", "a", "b", "b"])
    auc, pairs = auc_within_groups(y=y, score=score, groups=groups)
    assert pairs == 2
    assert auc == pytest.approx(0.5)


def test_auc_within_groups_counts_ties_half_and_none_without_a_mixed_group():
    auc, pairs = auc_within_groups(
        y=np.array([1, 0, 0]), score=np.array([0.5, 0.5, 0.1]), groups=np.array(["a"] * 3)
    )
    assert (auc, pairs) == (pytest.approx(0.75), 2)
    assert auc_within_groups(
        y=np.array([1, 0]), score=np.array([0.5, 0.1]), groups=np.array(["a", "b"])
    ) == (None, 0)


def test_covid_share_by_group():
    rows = [
        {"label": "covid", "license": "x"},
        {"label": "pneumonia", "license": "x"},
        {"label": "covid", "license": "y"},
    ]
    assert covid_share_by_group(rows=rows) == {"x": 0.5, "y": 1.0}


def _rows(*, labels: str, licence: str, split: str) -> list[dict]:
    names = {"c": "covid", "p": "pneumonia"}
    return [
        {"source": "cohen", "label": names[c], "license": licence, "split": split} for c in labels
    ]


def test_contributor_check_finds_a_publisher_that_gives_the_answer_away():
    # Publisher "paper" shows mostly covid, "atlas" mostly other pneumonias, in train and test.
    train = _rows(labels="cccp", licence="paper", split="train") + _rows(
        labels="cppp", licence="atlas", split="train"
    )
    test = _rows(labels="ccc", licence="paper", split="test") + _rows(
        labels="cpp", licence="atlas", split="test"
    )
    test.append({"source": "nih", "label": "normal", "license": "", "split": "test"})
    # A model that knows the publisher and nothing else: high for paper, low for atlas.
    p_covid = np.array([0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.5])
    check = contributor_check(p_covid=p_covid, rows=test, train_rows=train)
    assert check["n"] == 6 and check["pairs"] == 8
    assert check["key_only_auc"] == pytest.approx(check["auc"])
    assert check["auc"] > 0.8
    # Inside one publisher it cannot rank: two pairs (atlas: one covid, two others), all ties.
    assert check["pairs_within"] == 2
    assert check["auc_within_key"] == pytest.approx(0.5)


def test_contributor_check_needs_the_source_and_the_key():
    rows = [{"source": "nih", "label": "normal"}]
    assert contributor_check(p_covid=np.array([0.1]), rows=rows, train_rows=rows) is None
    cohen = [{"source": "cohen", "label": "covid"}]
    assert contributor_check(p_covid=np.array([0.1]), rows=cohen, train_rows=cohen) is None
