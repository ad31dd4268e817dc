"""`python -m training segment`: train the small lung-field U-Net on `lungs/`.

The net sees the classifier's preprocessing at 128 px (`mlcore.lungs.segmenter_input_prepare`)
and predicts one mask for both fields; `mlcore.lungs` splits it into sides. The masks follow
the visible lung fields, so the net learns what a radiologist outlines, not the whole lung.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from mlcore.imageio import image_decode
from mlcore.lungs import (
    MASK_THRESHOLD,
    SEGMENTER_FILENAME,
    SEGMENTER_INPUT_SIZE,
    SEGMENTER_REPORT,
    segmenter_input_prepare,
)


@dataclass
class SegmentConfig:
    """Settings of one segmenter run; the defaults are the shipped recipe."""

    data: Path
    out: Path
    epochs: int = 40
    batch_size: int = 16
    learning_rate: float = 2e-3
    base_width: int = 8
    seed: int = 0


@dataclass
class SegmentSet:
    """Preprocessed inputs (N, S, S) and their masks (N, S, S) of one split."""

    arrays: np.ndarray
    masks: np.ndarray


def pair_prepare(*, image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess a film and carry its mask through the same crop and square fit."""
    pixels = image_decode(data=image_path.read_bytes()).pixels
    prep = segmenter_input_prepare(pixels=pixels)
    mask = np.asarray(Image.open(mask_path).convert("L"), np.float32) / 255.0
    if mask.shape != prep.source_shape:
        size = (prep.source_shape[1], prep.source_shape[0])
        mask = np.asarray(Image.fromarray(mask, mode="F").resize(size, Image.Resampling.BILINEAR))
    top, left, bottom, right = prep.crop_box
    ct, cl, cb, cr = prep.content_box
    cropped = Image.fromarray(np.ascontiguousarray(mask[top:bottom, left:right]), mode="F")
    fitted = np.asarray(cropped.resize((cr - cl, cb - ct), Image.Resampling.BILINEAR))
    out = np.zeros_like(prep.array)
    out[ct:cb, cl:cr] = fitted >= 0.5
    return prep.array, out


def segment_sets_load(
    *, root: Path, splits: tuple[str, ...] = ("train", "val", "test")
) -> dict[str, SegmentSet]:
    """Read `metadata.csv` of the lungs set into one SegmentSet per split asked for."""
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] in splits]
    out: dict[str, tuple[list, list]] = {}
    for row in rows:
        arr, mask = pair_prepare(image_path=root / row["file"], mask_path=root / row["mask"])
        out.setdefault(row["split"], ([], []))
        out[row["split"]][0].append(arr)
        out[row["split"]][1].append(mask)
    return {k: SegmentSet(np.stack(a), np.stack(m)) for k, (a, m) in out.items()}


def pairs_augment(
    *, arrays: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale, aspect, shift and rotation (same for mask), contrast and gamma-like skew."""
    n, size, _ = arrays.shape
    out_a, out_m = np.empty_like(arrays), np.empty_like(masks)
    centre = np.array([size / 2, size / 2])
    for i in range(n):
        angle = np.deg2rad(rng.uniform(-10, 10))
        scale = rng.uniform(0.85, 1.15) * np.array([rng.uniform(0.85, 1.15), 1.0])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        matrix = rot / scale[:, None]
        offset = centre - matrix @ centre + rng.uniform(-0.08, 0.08, 2) * size
        out_a[i] = ndimage.affine_transform(arrays[i], matrix, offset, order=1, cval=0.0)
        out_m[i] = ndimage.affine_transform(masks[i], matrix, offset, order=0, cval=0.0)
        out_a[i] = out_a[i] * rng.uniform(0.7, 1.3) + rng.uniform(-0.3, 0.3)
        out_a[i] += rng.uniform(-0.15, 0.15) * out_a[i] ** 2
    return out_a, out_m


def unet_build(*, size: int = SEGMENTER_INPUT_SIZE, width: int = 8) -> Any:
    """A four-level U-Net of plain layers (saves as .keras, folds into TF under any backend)."""
    import keras
    from keras import layers

    def block(x, channels: int, name: str):
        for k in range(2):
            x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_c{k}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{k}")(x)
            x = layers.ReLU(name=f"{name}_r{k}")(x)
        return x

    inputs = keras.Input((size, size, 1), name="film")
    skips, x = [], inputs
    for level in range(4):
        x = block(x, width * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = block(x, width * 16, "bottom")
    for level in reversed(range(4)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = block(x, width * 2**level, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="lungs")(x)
    return keras.Model(inputs, outputs, name="lung_unet")


def dice_loss(y_true, y_pred):
    """Soft Dice + binary cross-entropy (Dice alone is unstable on near-empty batches)."""
    import keras
    from keras import ops

    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    denom = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return 1.0 - ops.mean(dice) + ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))


def dice_scores(*, truth: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Per-image hard Dice of thresholded predictions against boolean truths."""
    pred = probability >= MASK_THRESHOLD
    truth = truth >= 0.5
    inter = (pred & truth).sum(axis=(1, 2))
    return 2 * inter / np.maximum(pred.sum(axis=(1, 2)) + truth.sum(axis=(1, 2)), 1)


def segmenter_fit(*, model: Any, sets: dict[str, SegmentSet], config: SegmentConfig) -> list:
    """Train with fresh augmentation each epoch and a cosine learning-rate decay."""
    import keras

    train = sets["train"]
    steps = int(np.ceil(len(train.arrays) / config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=dice_loss)
    rng = np.random.default_rng(config.seed)
    history = []
    for epoch in range(config.epochs):
        a, m = pairs_augment(arrays=train.arrays, masks=train.masks, rng=rng)
        loss = model.fit(
            a[..., None], m[..., None], batch_size=config.batch_size, epochs=1, verbose=0
        ).history["loss"][0]
        val = sets["val"]
        val_dice = dice_scores(truth=val.masks, probability=segment_predict(model, val))
        val_dice = float(val_dice.mean())
        history.append({"epoch": epoch + 1, "loss": round(float(loss), 4), "val_dice": val_dice})
        print(json.dumps(history[-1]), flush=True)
    return history


def segment_predict(model: Any, sets: SegmentSet) -> np.ndarray:
    """(N, S, S) probabilities for a split."""
    return model.predict(sets.arrays[..., None], batch_size=32, verbose=0)[..., 0]


def segment_run(*, config: SegmentConfig) -> dict[str, Any]:
    """Load `lungs/`, train, report Dice per split and save `lungs.keras` + `lungs.json`."""
    import keras

    keras.utils.set_random_seed(config.seed)
    t0 = time.time()
    sets = segment_sets_load(root=config.data)
    model = unet_build(width=config.base_width)
    history = segmenter_fit(model=model, sets=sets, config=config)
    report: dict[str, Any] = {"config": {k: str(v) for k, v in asdict(config).items()}}
    for split, subset in sets.items():
        dice = dice_scores(truth=subset.masks, probability=segment_predict(model, subset))
        report[f"dice_{split}"] = round(float(dice.mean()), 4)
        report[f"dice_{split}_p05"] = round(float(np.quantile(dice, 0.05)), 4)
        report[f"n_{split}"] = len(dice)
    report.update(
        parameters=int(model.count_params()),
        input_size=SEGMENTER_INPUT_SIZE,
        fit_minutes=round((time.time() - t0) / 60, 1),
        history=history,
    )
    config.out.mkdir(parents=True, exist_ok=True)
    # A fresh, uncompiled copy: the .keras file then carries no optimizer state.
    infer = unet_build(width=config.base_width)
    infer.set_weights(model.get_weights())
    infer.save(config.out / SEGMENTER_FILENAME)
    (config.out / SEGMENTER_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return report
