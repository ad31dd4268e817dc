"""Negatives for the input gate: held-out kinds of images (ood/) and generated ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.labels import GATE_LABELS
from training.data import (
    OOD_KIND_TO_GATE,
    LungCropper,
    arrays_build,
    hash_split,
    pixels_arrays,
    table_read,
)
from training.negatives import negatives_generate

SYNTHETIC_SEEDS = {"train": 1000, "val": 2000}


@dataclass
class GateSet:
    """Negatives for the gate head: arrays, gate labels and a split per item."""

    arrays: np.ndarray
    gate_labels: np.ndarray
    splits: list[str]
    kinds: list[str]
    sources: list[str]

    @property
    def train_mask(self) -> np.ndarray:
        return np.array([s == "train" for s in self.splits], bool)


def gate_negatives_build(
    *,
    ood: Path | None,
    n_synthetic: int,
    size: int,
    seed: int,
    cache_dir: Path | None = None,
    cropper: LungCropper | None = None,
) -> GateSet:
    """Collect ood images (split by file hash) and synthetic negatives (own seeds)."""
    arrays, labels, splits, kinds, sources = [], [], [], [], []
    if ood is not None and (ood / "metadata.csv").is_file():
        table = table_read(root=ood)
        rows = [r for r in table.rows if r.get("kind") in OOD_KIND_TO_GATE]
        paths = [table.root / r["file"] for r in rows]
        arrays.append(
            arrays_build(paths=paths, size=size, desc="ood", cache_dir=cache_dir, cropper=cropper)
        )
        labels += [OOD_KIND_TO_GATE[r["kind"]] for r in rows]
        splits += [hash_split(key=r["file"]) for r in rows]
        kinds += [r["kind"] for r in rows]
        sources += [r.get("source", "") for r in rows]
    for split, n in (("train", n_synthetic), ("val", n_synthetic // 4)):
        neg = negatives_generate(n=n, seed=seed + SYNTHETIC_SEEDS[split])
        arrays.append(pixels_arrays(pixels=[p for _, p in neg], size=size, cropper=cropper))
        labels += [GATE_LABELS.index("other")] * len(neg)
        splits += [split] * len(neg)
        kinds += [k for k, _ in neg]
        sources += ["synthetic"] * len(neg)
    stacked = np.concatenate(arrays) if arrays else np.zeros((0, size, size), np.float32)
    return GateSet(stacked, np.array(labels, np.int32), splits, kinds, sources)
