"""The distillation step: teachers' calibrated probabilities become the student's targets.

Teachers are finished model folders (model.keras + card.json); each runs on the films at its
own input size, test-time views and temperature, and their probabilities are averaged. A
labelled film's target blends its label with the teachers (`distill_weight` is the teachers'
share); an unlabelled film's target is the teachers' alone. Unlabelled films are split by a
hash of their file name: one part is trained on, the rest stays unseen so the gate's accept
rate on that CSV can still be measured honestly (`unlabelled_rows_split`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from training.data import Table, table_arrays, table_read
from training.trainset import TrainingData

UNLABELLED = "unlabelled"
# Films of an unlabelled CSV with a hash bucket below this (of 3) are trained on.
UNLABELLED_FIT_BUCKETS = 2


def unlabelled_fit(*, file: str) -> bool:
    """Return True when an unlabelled film is in the part a distilled model trains on."""
    bucket = int(hashlib.sha256(f"unlabelled-v1|{file}".encode()).hexdigest()[:8], 16) % 3
    return bucket < UNLABELLED_FIT_BUCKETS


def unlabelled_rows_split(*, table: Table) -> tuple[Table, Table]:
    """Split an unlabelled table into (trained-on, held-out) parts by `unlabelled_fit`."""
    fit = [r for r in table.rows if unlabelled_fit(file=r["file"])]
    held = [r for r in table.rows if not unlabelled_fit(file=r["file"])]
    return Table(root=table.root, rows=fit), Table(root=table.root, rows=held)


def unlabelled_read(*, csvs: list[Path]) -> Table:
    """Read unlabelled CSVs (`file` relative to the CSV's folder); keep the trained-on part."""
    rows = []
    for csv_path in csvs:
        fit, _ = unlabelled_rows_split(table=table_read(root=csv_path.parent, csv_path=csv_path))
        rows += [
            {**r, "path": str(csv_path.parent / r["file"]), "appearance": UNLABELLED}
            for r in fit.rows
        ]
    return Table(root=Path(), rows=rows)


@dataclass(frozen=True)
class Teacher:
    """One finished model folder, read for its probabilities."""

    model_dir: Path

    def probabilities(self, *, table: Table, cache_dir: Path | None) -> np.ndarray:
        """Return the calibrated (N, 3) probabilities of this teacher on a table's films."""
        from mlcore.card import CARD_FILENAME, card_load
        from mlcore.classifier import Classifier
        from mlcore.ensemble import model_network_load

        card = card_load(path=self.model_dir / CARD_FILENAME)
        x = table_arrays(
            table=table, size=card.input_size, desc=f"teacher {card.version}", cache_dir=cache_dir
        )
        clf = Classifier(
            model=model_network_load(folder=self.model_dir, card=card),
            temperature=card.temperature,
            view_shift=card.view_shift,
        )
        return clf.run_chunked(batch=x).probabilities


def teachers_probabilities(
    *, model_dirs: list[Path], table: Table, cache_dir: Path | None = None
) -> np.ndarray:
    """Return the teachers' mean calibrated probabilities on a table's films."""
    if not model_dirs:
        raise ValueError("distillation needs at least one teacher")
    probs = [
        Teacher(model_dir=d).probabilities(table=table, cache_dir=cache_dir) for d in model_dirs
    ]
    return np.mean(probs, axis=0).astype(np.float32)


def targets_blend(*, labels: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """Return (1 - weight) * labels + weight * teacher, row-normalised."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distill weight must be in [0, 1], not {weight}")
    mixed = (1.0 - weight) * labels + weight * teacher
    return (mixed / mixed.sum(axis=1, keepdims=True)).astype(np.float32)


def training_data_distil(
    *,
    data: TrainingData,
    teachers: list[Path],
    weight: float,
    unlabelled: list[Path],
    size: int,
    cache_dir: Path | None = None,
) -> TrainingData:
    """Return `data` with teacher-blended targets, plus the trained-on unlabelled films."""
    extra = unlabelled_read(csvs=unlabelled)
    # One pass of each teacher over the labelled and unlabelled films together.
    everything = Table(root=data.train.root, rows=data.train.rows + extra.rows)
    teacher = teachers_probabilities(model_dirs=teachers, table=everything, cache_dir=cache_dir)
    n = len(data.train.rows)
    blended = targets_blend(labels=data.targets_train, teacher=teacher[:n], weight=weight)
    if not extra.rows:
        return replace(data, targets_train=blended)
    x_extra = table_arrays(table=extra, size=size, desc=UNLABELLED, cache_dir=cache_dir)
    return replace(
        data,
        x_train=np.concatenate([data.x_train, x_extra]),
        targets_train=np.concatenate([blended, teacher[n:]]),
        train=everything,
    )
