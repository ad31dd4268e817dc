"""Read metadata CSVs and decode + preprocess images once into in-memory arrays."""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from mlcore.imageio import image_decode
from mlcore.labels import LABELS
from mlcore.preprocess import (
    PREPROCESSING_DESCRIPTION,
    grayscale_convert,
    radiograph_preprocess,
)
from mlcore.splits import split_of_key

OOD_KIND_TO_GATE = {
    "lateral_chest": 1,
    "other_radiograph": 2,
    "ct_slice": 3,
    "photo": 4,
}


@dataclass(frozen=True)
class Table:
    """Rows of a metadata CSV (a list of dicts) plus the folder its paths are relative to."""

    root: Path
    rows: list[dict[str, str]]

    def column(self, name: str, default: str = "") -> list[str]:
        return [r.get(name) or default for r in self.rows]


def table_read(*, root: Path, csv_path: Path | None = None) -> Table:
    """Read `csv_path` (default root/metadata.csv); it needs at least a `file` column."""
    csv_path = csv_path or root / "metadata.csv"
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "file" not in rows[0]:
        raise ValueError(f"{csv_path} has no 'file' column")
    return Table(root=root, rows=rows)


def table_filter(*, table: Table, split: str | None) -> Table:
    """Keep rows of one split (all rows when `split` is None or the CSV has no split column)."""
    if split is None or not table.rows or "split" not in table.rows[0]:
        return table
    return Table(root=table.root, rows=[r for r in table.rows if r.get("split") == split])


def rows_hash(
    *, rows: list[dict[str, str]], columns: tuple[str, ...] = ("file", "label", "split")
) -> str:
    """Return sha256 over the given columns of the rows: identifies the data a model saw."""
    h = hashlib.sha256()
    for r in rows:
        h.update(("|".join(r.get(c, "") for c in columns) + "\n").encode())
    return h.hexdigest()


def hash_split(*, key: str, salt: str = "gate-v1") -> str:
    """Deterministic 60/20/20 train/val/test assignment of an ood file by hash."""
    return split_of_key(key=key, salt=salt, train_pct=60, val_pct=20)


def image_file_load(*, path: Path) -> np.ndarray:
    """Decode an image file to float32 [0, 1]; (H, W) or (H, W, 3)."""
    return image_decode(data=path.read_bytes()).pixels


class LungCropper(Protocol):
    """Finds the lung box of a film (mlcore.segmenter.LungSegmenter)."""

    def box_of(self, *, pixels: np.ndarray) -> tuple[int, int, int, int] | None: ...


def film_preprocess(
    *, pixels: np.ndarray, size: int, cropper: LungCropper | None = None
) -> np.ndarray:
    """The classifier's input of one film: whole, or its lung box when a cropper is given."""
    box = None
    if cropper is not None:
        box = cropper.box_of(pixels=grayscale_convert(pixels=pixels))
    return radiograph_preprocess(pixels=pixels, size=size, box=box).array


def _cache_path(
    *, cache_dir: Path | None, paths: list[Path], size: int, cropped: bool = False
) -> Path | None:
    if cache_dir is None:
        return None
    h = hashlib.sha256()
    h.update(f"{size}|{PREPROCESSING_DESCRIPTION}".encode())
    if cropped:
        h.update(b"|lung-crop")
    for p in paths:
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return cache_dir / f"arrays-{h.hexdigest()[:20]}.npy"


def arrays_build(
    *,
    paths: list[Path],
    size: int,
    desc: str = "decode",
    cache_dir: Path | None = None,
    cropper: LungCropper | None = None,
) -> np.ndarray:
    """Decode + preprocess every file once; return (N, size, size) float32."""
    cache = _cache_path(cache_dir=cache_dir, paths=paths, size=size, cropped=cropper is not None)
    if cache is not None and cache.is_file():
        return np.load(cache)
    out = np.zeros((len(paths), size, size), dtype=np.float32)
    for i, p in enumerate(tqdm(paths, desc=desc, unit="img", disable=not paths)):
        out[i] = film_preprocess(pixels=image_file_load(path=p), size=size, cropper=cropper)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        tmp.replace(cache)
    return out


def table_arrays(
    *,
    table: Table,
    size: int,
    desc: str = "decode",
    cache_dir: Path | None = None,
    cropper: LungCropper | None = None,
) -> np.ndarray:
    """Decode + preprocess every file a table lists (`path`, else `file` under its root)."""
    paths = [Path(r["path"]) if r.get("path") else table.root / r["file"] for r in table.rows]
    return arrays_build(paths=paths, size=size, desc=desc, cache_dir=cache_dir, cropper=cropper)


def pixels_arrays(
    *, pixels: list[np.ndarray], size: int, cropper: LungCropper | None = None
) -> np.ndarray:
    """Preprocess already-decoded images (synthetic negatives) into (N, size, size)."""
    out = np.zeros((len(pixels), size, size), dtype=np.float32)
    for i, px in enumerate(pixels):
        out[i] = film_preprocess(pixels=px, size=size, cropper=cropper)
    return out


def label_indices(*, labels: list[str]) -> np.ndarray:
    """Map label names to indices in LABELS order; unknown labels raise."""
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected {LABELS}")
    return np.array([LABELS.index(v) for v in labels], dtype=np.int32)
