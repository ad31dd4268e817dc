"""Self-supervised pretraining (SimCLR) of the trunk on training and unlabelled films.

Two augmented views of each film go through the trunk and a small projection head; the
NT-Xent loss pulls a film's two views together and pushes the other films of the batch
away (Chen et al. 2020). No label is read, so the unlabelled films count in full. The
trunk starts from ImageNet (the same frozen first layers as the supervised recipe) and
the weights are written for `training train --init-weights`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.config import ConfigError, TrainConfig
from training.data import Table, table_arrays, table_filter
from training.pretrained.efficientnet_lite import frozen_prefixes

PROJECTION_UNITS = (512, 128)
WEIGHTS_SUFFIX = ".weights.h5"


@dataclass
class PretrainConfig:
    """Settings of one pretraining run."""

    data: list[Path]
    out: Path
    unlabelled: tuple[Path, ...] = ()
    # The supervised recipe's input size and frozen layers, so its fit starts where this ends.
    image_size: int = TrainConfig.image_size
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 3e-4
    temperature: float = 0.2
    freeze: tuple[str, ...] = field(default_factory=lambda: frozen_prefixes(variant="lite0"))
    seed: int = 0
    cache_dir: Path | None = None


def pretrain_films(*, data: list[Path], unlabelled: list[Path]) -> Table:
    """Every train-split film of the data sets plus the unlabelled films' trained-on part."""
    from training.distill import unlabelled_read
    from training.trainset import tables_read

    train = table_filter(table=tables_read(roots=data), split="train")
    return Table(root=Path(), rows=train.rows + unlabelled_read(csvs=unlabelled).rows)


def nt_xent(*, z1, z2, temperature: float):
    """Return the mean NT-Xent loss of two (B, D) batches of projections."""
    import tensorflow as tf

    z = tf.math.l2_normalize(tf.concat([z1, z2], axis=0), axis=1)
    n = tf.shape(z1)[0]
    sim = tf.matmul(z, z, transpose_b=True) / temperature
    sim = sim - 1e9 * tf.eye(2 * n)
    positives = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=sim)
    return tf.reduce_mean(loss)


def contrastive_model_build(*, config: PretrainConfig):
    """Return (two-head model with ImageNet weights, projection model over its trunk)."""
    import keras
    from keras import layers

    from training.model import lite_classifier_build
    from training.pretrained.efficientnet_lite import imagenet_weights_load

    model = lite_classifier_build(input_size=config.image_size)
    imagenet_weights_load(model=model)
    for layer in model.layers:
        if layer.name.startswith(config.freeze):
            layer.trainable = False
    h = layers.GlobalAveragePooling2D()(model.get_layer("cam_features").output)
    h = layers.Dense(PROJECTION_UNITS[0], activation="relu")(h)
    projection = keras.Model(model.inputs, layers.Dense(PROJECTION_UNITS[1])(h))
    return model, projection


def pretrain_run(*, config: PretrainConfig) -> dict:
    """Pretrain the trunk; save the two-head model's weights to `config.out`; return a log."""
    import keras
    import tensorflow as tf

    from training.augment import batch_augment

    if not config.out.name.endswith(WEIGHTS_SUFFIX):
        raise ConfigError(f"--out must name a {WEIGHTS_SUFFIX} file, not {config.out.name}")
    keras.utils.set_random_seed(config.seed)
    films = pretrain_films(data=config.data, unlabelled=list(config.unlabelled))
    x = table_arrays(
        table=films, size=config.image_size, desc="pretrain", cache_dir=config.cache_dir
    )
    model, projection = contrastive_model_build(config=config)
    steps = max(1, len(x) // config.batch_size)
    optimizer = keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(config.learning_rate, steps * config.epochs),
        weight_decay=1e-4,
    )
    ds = (
        tf.data.Dataset.from_tensor_slices(x[..., None])
        .shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size, drop_remainder=True)
        .map(lambda b: (batch_augment(b), batch_augment(b)), num_parallel_calls=2)
        .prefetch(2)
    )

    @tf.function
    def step(v1, v2):
        with tf.GradientTape() as tape:
            loss = nt_xent(
                z1=projection(v1, training=True),
                z2=projection(v2, training=True),
                temperature=config.temperature,
            )
        grads = tape.gradient(loss, projection.trainable_variables)
        optimizer.apply_gradients(zip(grads, projection.trainable_variables, strict=True))
        return loss

    log, t0 = {"n_films": len(x), "epochs": []}, time.time()
    for epoch in range(1, config.epochs + 1):
        losses = [float(step(v1, v2)) for v1, v2 in tqdm(ds, total=steps, desc=f"ep {epoch}")]
        log["epochs"].append({"epoch": epoch, "loss": float(np.mean(losses))})
        tqdm.write(f"pretrain epoch {epoch}: NT-Xent {np.mean(losses):.3f}")
    config.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(config.out)
    log["seconds"] = round(time.time() - t0, 1)
    return log
