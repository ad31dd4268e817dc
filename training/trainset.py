"""The data step: read one or more data sets, give every film a target, decode once.

A row's target is a probability vector over LABELS. Films graded `indeterminate` (SIIM:
opacities that fit COVID-19 and other causes alike) carry half covid, half pneumonia and no
normal: they teach "pneumonia is visible" without teaching which pattern. They never enter
validation or test figures, which need one true class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.labels import LABELS
from training.data import (
    LungCropper,
    Table,
    rows_hash,
    table_arrays,
    table_filter,
    table_read,
)

INDETERMINATE = "indeterminate"
INDETERMINATE_TARGET = (0.5, 0.5, 0.0)
STRATUM_WEIGHT_RANGE = (0.3, 3.0)


def tables_read(*, roots: list[Path]) -> Table:
    """Read each root's metadata.csv into one table whose rows carry their absolute `path`."""
    rows = []
    for root in roots:
        table = table_read(root=root)
        rows += [{**r, "path": str(table.root / r["file"])} for r in table.rows]
    return Table(root=Path(), rows=rows)


def row_target(*, row: dict[str, str]) -> np.ndarray | None:
    """Return the row's target over LABELS, or None for a film with nothing to teach."""
    if row.get("label") in LABELS:
        return np.eye(len(LABELS), dtype=np.float32)[LABELS.index(row["label"])]
    if row.get("appearance") == INDETERMINATE:
        return np.array(INDETERMINATE_TARGET, dtype=np.float32)
    return None


def row_stratum(*, row: dict[str, str]) -> str:
    """Return the finest grade a row has (SIIM's appearance, else its label)."""
    return row.get("appearance") or row.get("label") or ""


def rows_labelled(*, table: Table) -> Table:
    """Keep rows with one true class (evaluation needs it)."""
    return Table(root=table.root, rows=[r for r in table.rows if r.get("label") in LABELS])


@dataclass
class TrainingData:
    """Decoded arrays and their targets for the train, val and test splits."""

    x_train: np.ndarray
    targets_train: np.ndarray  # (N, 3) soft targets
    train: Table
    x_val: np.ndarray
    val: Table  # labelled rows only
    x_test: np.ndarray | None
    test: Table  # labelled rows only

    @property
    def sources_train(self) -> list[str]:
        return self.train.column("source", "all")

    @property
    def strata_train(self) -> list[str]:
        return [f"{r.get('source', '')}/{row_stratum(row=r)}" for r in self.train.rows]


def splits_read(*, roots: list[Path]) -> tuple[Table, Table, Table]:
    """Return the train (with a target), val and test (labelled) rows of the data sets."""
    table = tables_read(roots=roots)
    train = table_filter(table=table, split="train")
    train = Table(root=train.root, rows=[r for r in train.rows if row_target(row=r) is not None])
    val = rows_labelled(table=table_filter(table=table, split="val"))
    test = rows_labelled(table=table_filter(table=table, split="test"))
    if not train.rows or not val.rows:
        raise ValueError("the data needs labelled rows with split=train and split=val")
    return train, val, test


def splits_hash(*, roots: list[Path]) -> str:
    """Identify the train and val rows a model saw (the card's split_sha256)."""
    train, val, _ = splits_read(roots=roots)
    return rows_hash(rows=train.rows + val.rows)


def training_data_build(
    *,
    roots: list[Path],
    size: int,
    cache_dir: Path | None = None,
    cropper: LungCropper | None = None,
) -> TrainingData:
    """Read, split and decode the data sets; ValueError when a split is empty."""
    train, val, test = splits_read(roots=roots)

    def arrays_of(t: Table, desc: str) -> np.ndarray:
        return table_arrays(table=t, size=size, desc=desc, cache_dir=cache_dir, cropper=cropper)

    return TrainingData(
        x_train=arrays_of(train, "train"),
        targets_train=np.stack([row_target(row=r) for r in train.rows]),
        train=train,
        x_val=arrays_of(val, "val"),
        val=val,
        x_test=arrays_of(test, "test") if test.rows else None,
        test=test,
    )


def sample_weights_compute(
    *, strata: list[str], labels: np.ndarray, source_weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """Balance grades inside each source (capped), weigh sources, then classes; mean 1.

    `strata` are "source/grade" keys; `labels` the argmax class per row. Up-weighting e.g.
    Cohen's few pneumonias against its many covids makes 'looks like a Cohen figure' a worse
    predictor of covid, pushing the model toward the lungs.
    """
    strata_arr = np.asarray(strata)
    sources = np.array([s.split("/", 1)[0] for s in strata])
    w = np.ones(len(strata), dtype=np.float64)
    for source in np.unique(sources):
        in_source = sources == source
        grades = np.unique(strata_arr[in_source])
        for grade in grades:
            m = strata_arr == grade
            w[m] = in_source.sum() / (len(grades) * m.sum())
    w = np.clip(w, *STRATUM_WEIGHT_RANGE)
    for source, weight in (source_weights or {}).items():
        if not (sources == source).any():
            known = ", ".join(sorted(set(sources)))
            raise ValueError(f"--source-weight names {source!r}; the training sources are {known}")
        w[sources == source] *= weight
    labels = np.asarray(labels)
    for c in np.unique(labels):
        mc = labels == c
        w[mc] *= len(labels) / (len(np.unique(labels)) * w[mc].sum())
    return (w / w.mean()).astype(np.float32)
