"""Films a site usually sends and films of another kind, for the drift watch's tests.

Pure mlcore (no Django): the tiny model's drift reference is built from the usual ones
(tests/fixtures/build_tiny_drift_reference.py).
"""

from __future__ import annotations

import numpy as np

USUAL_SIDES = (224, 320)  # the usual films' sides are drawn from this range
DRIFTED_SIDE = 128


def usual_film_png(*, seed: int) -> bytes:
    """A chest-like PNG of the usual kind: 224 to 320 px a side."""
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import png_bytes

    rng = np.random.default_rng(seed)
    size = tuple(int(v) for v in rng.integers(USUAL_SIDES[0], USUAL_SIDES[1], size=2))
    return png_bytes(pixels=chest_like_array(size=size, seed=seed))


def drifted_film_png(*, seed: int) -> bytes:
    """A chest-like PNG of another kind: a small, dark film (a low-resolution, underexposed
    scan)."""
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import png_bytes

    pixels = chest_like_array(size=(DRIFTED_SIDE, DRIFTED_SIDE), seed=seed) ** 2.2
    return png_bytes(pixels=pixels.astype(np.float32))


def usual_films_write(*, root, count: int, seed_base: int, label: str = "") -> None:
    """Write `count` usual films under root/images and a metadata.csv naming them all val."""
    import csv

    (root / "images").mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "split"])
        for i in range(count):
            name = f"images/usual_{i:03d}.png"
            (root / name).write_bytes(usual_film_png(seed=seed_base + i))
            writer.writerow([name, label, "val"])
