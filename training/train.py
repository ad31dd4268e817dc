"""Train the two-head CNN, calibrate it, fit the gate and write model.keras + card.json.

The recipe in steps: data (`training.trainset`), gate negatives (`training.gateset`), model
(`model_make`), fit with weight averaging (`training.fit`), calibrate and fit the gate
(`training.finish`), card (`card_make`).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.card import GATE_STATS_FILENAME, MODEL_FILENAME, ModelCard, card_save
from mlcore.labels import GATE_LABELS, LABELS
from mlcore.lungs import SEGMENTER_FILENAME, SEGMENTER_REPORT
from mlcore.preprocess import PREPROCESSING_DESCRIPTION
from training.config import TrainConfig, config_check, frozen_prefixes_of, lite_variant_of
from training.finish import Finished, gate_stats_save, trainset_finish
from training.fit import EpochJudge, FitResult, dataset_make
from training.gateset import GateSet, gate_negatives_build
from training.trainset import (
    TrainingData,
    sample_weights_compute,
    splits_hash,
    training_data_build,
)

GATE_WEIGHT_RANGE = (0.2, 8.0)
RECORDED_SETTINGS = (
    "backbone",
    "pretrained",
    "swa_start",
    "select",
    "seed",
    "data_seed",
    "batch_size",
    "learning_rate",
    "width",
    "antialias",
    "flip",
    "augment",
    "mixup",
    "source_adversary",
    "source_weights",
    "distill_weight",
)


def git_commit() -> str | None:
    """Return `git rev-parse HEAD` of this checkout, or None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def model_make(*, config: TrainConfig, pretrained: bool):
    """Build the configured network; load its starting weights and freeze the first layers."""
    from training.model import classifier_build, lite_classifier_build

    if config.backbone == "cxrnet":
        return classifier_build(
            input_size=config.image_size, width=config.width, antialias=config.antialias
        )
    variant = lite_variant_of(backbone=config.backbone)
    model = lite_classifier_build(input_size=config.image_size, variant=variant)
    if pretrained and config.init_weights is not None:
        # Self-supervised weights (`training pretrain`); its heads were never trained.
        model.load_weights(config.init_weights)
    elif pretrained:
        from training.pretrained.efficientnet_lite import imagenet_weights_load

        imagenet_weights_load(model=model, variant=variant)
    if pretrained:
        frozen = frozen_prefixes_of(config=config)
        for layer in model.layers:
            if frozen and layer.name.startswith(frozen):
                layer.trainable = False
    return model


def data_seed_of(*, config: TrainConfig) -> int:
    """Return the seed of the film order and augmentation."""
    return config.seed if config.data_seed is None else config.data_seed


def fit_inputs(*, data: TrainingData, negatives: GateSet, config: TrainConfig):
    """Return (x, targets, weights) for the fit: radiographs plus the gate's negatives."""
    neg = negatives.train_mask
    n_neg = int(neg.sum())
    x = np.concatenate([data.x_train, negatives.arrays[neg]])
    hard = data.targets_train.argmax(axis=1)
    disease = np.concatenate([data.targets_train, np.zeros((n_neg, len(LABELS)), np.float32)])
    gate = np.concatenate([np.zeros(len(data.x_train), np.int32), negatives.gate_labels[neg]])
    # Disease loss only on radiographs; gate loss on everything, classes balanced (capped).
    w_disease = np.concatenate(
        [
            sample_weights_compute(
                strata=data.strata_train,
                labels=hard,
                source_weights=dict(config.source_weights),
            ),
            np.zeros(n_neg, np.float32),
        ]
    )
    counts = np.bincount(gate, minlength=len(GATE_LABELS)).astype(np.float64)
    gw = np.clip(len(gate) / (len(GATE_LABELS) * np.maximum(counts, 1)), *GATE_WEIGHT_RANGE)
    w_gate = (gw[gate] * config.gate_loss_weight).astype(np.float32)
    return x, {"disease": disease, "gate": gate}, {"disease": w_disease, "gate": w_gate}


def fit_run(*, model, data: TrainingData, negatives: GateSet, config: TrainConfig) -> FitResult:
    """Compile and fit `model`; return the weights chosen by the epoch judge."""
    import keras

    x, targets, weights = fit_inputs(data=data, negatives=negatives, config=config)
    losses = {
        "disease": keras.losses.CategoricalCrossentropy(from_logits=True),
        "gate": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    }
    fit_model, label_onehot = model, None
    source_names = sorted(set(data.sources_train))
    if config.source_adversary > 0 and len(source_names) > 1:
        from training.model import adversary_attach

        n_neg = len(x) - len(data.x_train)
        fit_model = adversary_attach(model=model, n_sources=len(source_names), scale=1.0)
        sources = [source_names.index(s) for s in data.sources_train] + [0] * n_neg
        targets["source"] = np.array(sources, np.int32)
        weights["source"] = np.concatenate(
            [np.full(len(data.x_train), config.source_adversary), np.zeros(n_neg)]
        ).astype(np.float32)
        losses["source"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        label_onehot = targets["disease"]
    train_ds = dataset_make(
        x=x,
        targets=targets,
        weights=weights,
        label_onehot=label_onehot,
        batch_size=config.batch_size,
        seed=data_seed_of(config=config),
        augment=True,
        flip=config.flip,
        mixup=config.mixup,
        augment_strength=config.augment,
    )
    steps_per_epoch = max(1, len(x) // config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate * 0.1,
        steps_per_epoch * config.epochs,
        warmup_target=config.learning_rate,
        warmup_steps=steps_per_epoch,
    )
    fit_model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), loss=losses)
    judge = EpochJudge(
        model=model, config=config, x_val=data.x_val, val_rows=data.val.rows, x_train=data.x_train
    )
    bar = tqdm(total=config.epochs, desc="epochs", unit="ep")

    class Judge(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            bar.update(1)
            if judge.epoch_end(epoch=epoch + 1, logs=logs):
                self.model.stop_training = True

    t0 = time.time()
    fit_model.fit(train_ds, epochs=config.epochs, verbose=0, callbacks=[Judge()])
    bar.close()
    judge.result.seconds = time.time() - t0
    return judge.result


def distillation_record(*, config: TrainConfig, data: TrainingData) -> dict[str, Any]:
    """Return the card's note of the teachers and unlabelled films a run learned from."""
    if not config.teachers:
        return {}
    from mlcore.card import CARD_FILENAME, card_load
    from training.distill import UNLABELLED

    cards = [card_load(path=d / CARD_FILENAME) for d in config.teachers]
    return {
        "teachers": [f"{c.name}@{c.version}" for c in cards],
        "unlabelled": [f"{p.parent.name}/{p.name}" for p in config.unlabelled],
        "n_unlabelled": sum(r.get("appearance") == UNLABELLED for r in data.train.rows),
    }


def card_make(
    *,
    config: TrainConfig,
    data: TrainingData,
    negatives: GateSet,
    fit: FitResult,
    finished: Finished,
    params: int,
    seconds: float,
) -> ModelCard:
    """Return the model card of a finished run."""
    settings = asdict(config)
    training: dict[str, Any] = {
        "data": [p.name for p in config.data],
        "split_sha256": splits_hash(roots=config.data),
        "n_train": len(data.train.rows),
        "n_val": len(data.val.rows),
        "n_gate_negatives_train": int(negatives.train_mask.sum()),
        "ood": config.ood.name if config.ood else None,
        "epochs_run": max((r["epoch"] for r in fit.history), default=0),
        "best_epoch": fit.epoch,
        "best_averaged_epochs": fit.averaged,
        **{k: settings[k] for k in RECORDED_SETTINGS},
        "freeze": list(frozen_prefixes_of(config=config)),
        "init_weights": config.init_weights.name if config.init_weights else None,
        **distillation_record(config=config, data=data),
        "params": params,
        "fit_seconds": round(fit.seconds, 1),
        "total_seconds": round(seconds, 1),
        "history": fit.history,
        **config.extra,
    }
    return ModelCard(
        name=config.out.name,
        version=config.version or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M"),
        labels=list(LABELS),
        input_size=config.image_size,
        preprocessing=PREPROCESSING_DESCRIPTION,
        temperature=finished.temperature,
        view_shift=config.view_shift,
        lung_crop=config.lung_crop is not None,
        gate=finished.thresholds.to_dict(),
        gate_labels=list(GATE_LABELS),
        training=training,
        evaluation=finished.evaluation,
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        git_commit=git_commit(),
    )


def lung_cropper_load(*, config: TrainConfig) -> Any:
    """The segmenter that crops every film to its lungs, or None for whole films."""
    if config.lung_crop is None:
        return None
    from mlcore.segmenter import LungSegmenter

    return LungSegmenter.load(folder=config.lung_crop)


def train_run(*, config: TrainConfig) -> ModelCard:
    """Run the full training recipe; return the written card."""
    config_check(config=config)
    import keras

    t_start = time.time()
    keras.utils.set_random_seed(config.seed)
    size = config.image_size
    cropper = lung_cropper_load(config=config)
    data = training_data_build(
        roots=config.data, size=size, cache_dir=config.cache_dir, cropper=cropper
    )
    if config.teachers:
        from training.distill import training_data_distil

        data = training_data_distil(
            data=data,
            teachers=list(config.teachers),
            weight=config.distill_weight,
            unlabelled=list(config.unlabelled),
            size=size,
            cache_dir=config.cache_dir,
        )
    negatives = gate_negatives_build(
        ood=config.ood,
        n_synthetic=config.n_synthetic,
        size=size,
        seed=config.seed,
        cache_dir=config.cache_dir,
        cropper=cropper,
    )
    model = model_make(config=config, pretrained=config.pretrained)
    if config.data_seed is not None:
        # The start is drawn; from here on the data seed draws the film order and augmentation.
        keras.utils.set_random_seed(config.data_seed)
    fit = fit_run(model=model, data=data, negatives=negatives, config=config)
    model.set_weights(fit.weights)
    # Save a fresh, uncompiled copy: the .keras file then carries no optimizer state.
    infer = model_make(config=config, pretrained=False)
    for layer in model.layers:
        # Layer by layer: a frozen layer lists its weights in another order model-wide.
        infer.get_layer(layer.name).set_weights(layer.get_weights())
        # The file records the frozen start, so a later pass in training mode leaves its
        # batch-norm statistics alone.
        infer.get_layer(layer.name).trainable = layer.trainable
    config.out.mkdir(parents=True, exist_ok=True)
    infer.save(config.out / MODEL_FILENAME)
    finished = trainset_finish(
        model=infer, view_shift=config.view_shift, data=data, negatives=negatives
    )
    gate_stats_save(path=config.out / GATE_STATS_FILENAME, finished=finished)
    if config.lung_crop is not None:
        for name in (SEGMENTER_FILENAME, SEGMENTER_REPORT):
            if (config.lung_crop / name).is_file():
                shutil.copyfile(config.lung_crop / name, config.out / name)
    card = card_make(
        config=config,
        data=data,
        negatives=negatives,
        fit=fit,
        finished=finished,
        params=int(infer.count_params()),
        seconds=time.time() - t_start,
    )
    card_save(card=card, path=config.out / "card.json")
    return card
