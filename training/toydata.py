"""A small generated chest-like data set with a learnable signal, for tests and fixtures.

covid: several faint opacities in both lower lungs; pneumonia: one dense opacity in one
lung; normal: none. Images are written as PNG with a metadata.csv like the real set's.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from mlcore.labels import LABELS
from mlcore.testing.arrays import chest_like_array


def _blob(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.exp(-(((yy - cy * h) ** 2 + (xx - cx * w) ** 2) / (2 * (r * w) ** 2)))


def toy_image(*, label: str, seed: int, size: tuple[int, int] = (96, 96)) -> np.ndarray:
    """Return one chest-like (H, W) float image carrying the label's pattern."""
    rng = np.random.default_rng(seed)
    img = chest_like_array(size=size, seed=seed)
    h, w = size
    if label == "covid":
        for side in (0.3, 0.7):
            for _ in range(3):
                img += 0.22 * _blob(
                    h, w, rng.uniform(0.5, 0.7), side + rng.uniform(-0.08, 0.08), 0.05
                )
    elif label == "pneumonia":
        side = 0.3 if rng.random() < 0.5 else 0.7
        img += 0.45 * _blob(h, w, rng.uniform(0.4, 0.6), side, rng.uniform(0.09, 0.12))
    return np.clip(img, 0, 1).astype(np.float32)


def toy_dataset_write(*, root: Path, n_per_class: int = 20, seed: int = 0, size: int = 96) -> Path:
    """Write images/ + metadata.csv (70/15/15 split, two fake sources); return root."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    k = 0
    for label in LABELS:
        for i in range(n_per_class):
            name = f"images/{label}_{i:03d}.png"
            px = toy_image(label=label, seed=seed * 100_000 + k, size=(size, size + (i % 3) * 8))
            Image.fromarray((px * 255).astype(np.uint8)).save(root / name)
            frac = i / n_per_class
            split = "train" if frac < 0.7 else ("val" if frac < 0.85 else "test")
            rows.append(
                {
                    "file": name,
                    "label": label,
                    "split": split,
                    "source": "ab"[i % 2],
                    "patient_id": f"p{k}",
                }
            )
            k += 1
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
