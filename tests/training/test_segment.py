"""`python -m training segment` on a small generated lungs set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from mlcore.lungs import SEGMENTER_FILENAME
from tests.mlcore.test_lungs import two_fields
from training.segment import SegmentConfig, pair_prepare, pairs_augment, segment_run


def lungs_set_write(*, root: Path, n: int = 12) -> Path:
    """Films with two dark fields and their masks, in the layout of ../shared/data/lungs."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        mask = two_fields(size=96, gap=rng.uniform(0.45, 0.55)) > 0
        film = np.clip(0.7 - 0.4 * mask + rng.normal(0, 0.05, mask.shape), 0, 1)
        Image.fromarray((film * 255).astype(np.uint8)).save(root / f"images/f{i}.jpg")
        Image.fromarray(mask.astype(np.uint8) * 255).convert("1").save(root / f"masks/f{i}.png")
        split = ("train", "train", "val", "test")[i % 4]
        rows.append({"file": f"images/f{i}.jpg", "mask": f"masks/f{i}.png", "split": split})
    with (root / "metadata.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "mask", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_pair_keeps_mask_on_the_film(tmp_path):
    root = lungs_set_write(root=tmp_path / "lungs", n=4)
    array, mask = pair_prepare(image_path=root / "images/f0.jpg", mask_path=root / "masks/f0.png")
    assert array.shape == mask.shape == (128, 128)
    assert array[mask > 0].mean() < array[mask == 0].mean()  # the fields are the dark part


def test_augment_moves_film_and_mask_together(tmp_path):
    root = lungs_set_write(root=tmp_path / "lungs", n=4)
    array, mask = pair_prepare(image_path=root / "images/f1.jpg", mask_path=root / "masks/f1.png")
    a, m = pairs_augment(arrays=array[None], masks=mask[None], rng=np.random.default_rng(5))
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert a[0][m[0] > 0].mean() < a[0][m[0] == 0].mean()


def test_segment_run_writes_model_and_report(tmp_path):
    root = lungs_set_write(root=tmp_path / "lungs")
    out = tmp_path / "model"
    report = segment_run(config=SegmentConfig(data=root, out=out, epochs=2, base_width=2))
    assert (out / SEGMENTER_FILENAME).is_file()
    saved = json.loads((out / "lungs.json").read_text())
    assert set(saved) >= {"dice_train", "dice_val", "dice_test", "parameters", "history"}
    assert 0.0 <= report["dice_test"] <= 1.0 and len(report["history"]) == 2
