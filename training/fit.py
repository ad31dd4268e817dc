"""The fit step: tf.data pipeline, losses, and the epoch loop with weight averaging."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from training.average import WeightAverage, bn_statistics_refresh
from training.config import TrainConfig
from training.data import label_indices
from training.metrics import metrics_compute, siim_figures


def dataset_make(
    *,
    x,
    targets: dict,
    weights: dict,
    label_onehot=None,
    batch_size: int,
    seed: int,
    augment: bool,
    flip: bool = False,
    mixup: float = 0.0,
    augment_strength: float = 1.0,
):
    """tf.data pipeline over in-memory arrays: shuffle, batch, augment, prefetch.

    `targets` and `weights` are dicts keyed by output name; "disease" targets are soft
    (N, 3). With `label_onehot` the inputs are a dict {"image", "label"} (for the
    source-adversarial training model).
    """
    import tensorflow as tf

    from training.augment import batch_augment, batch_mixup

    inputs = {"image": x[..., None]}
    if label_onehot is not None:
        inputs["label"] = label_onehot
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets, weights))
    if augment:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=augment)

    def pack(inp, tb, wb):
        xb = (
            batch_augment(inp["image"], flip=flip, strength=augment_strength)
            if augment
            else inp["image"]
        )
        if augment and mixup > 0:
            xb, disease = batch_mixup(
                images=xb, targets=tb["disease"], weights=wb["disease"], alpha=mixup
            )
            tb = {**tb, "disease": disease}
        if "label" in inp:
            return {"image": xb, "label": inp["label"]}, tb, wb
        return xb, tb, wb

    return ds.map(pack, num_parallel_calls=2).prefetch(2)


def val_score(*, probs: np.ndarray, labels: np.ndarray, rows: list[dict]) -> tuple[float, dict]:
    """Selection score: macro AUC, plus inside-source figures (SIIM, Cohen) where present."""
    sources = [r.get("source") or "all" for r in rows]
    m = metrics_compute(probs=probs, labels=labels, sources=sources)
    m.update(siim_figures(probs=probs, rows=rows))
    cohen = (m.get("covid_vs_rest_auc_within_source") or {}).get("cohen")
    siim = m.get("siim_typical_vs_negative_auc")
    score = (m["macro_auc"] or 0.0) + 0.5 * (cohen or 0.0) + (siim or 0.0)
    return score, m


@dataclass
class FitResult:
    """What the epoch loop leaves: the shipped weights and the per-epoch history."""

    weights: list[np.ndarray]
    epoch: int
    averaged: int
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def history_row(*, epoch: int, logs, m: dict, score: float, averaged: int) -> dict:
    """Return one history row and print it."""
    cohen = (m.get("covid_vs_rest_auc_within_source") or {}).get("cohen")
    row = {
        "epoch": epoch,
        "averaged_epochs": averaged,
        "loss": float((logs or {}).get("loss", np.nan)),
        "val_macro_auc": m["macro_auc"],
        "val_balanced_accuracy": m["balanced_accuracy"],
        "val_nll": m["nll"],
        "val_cohen_covid_auc": cohen,
        "val_siim_typical_vs_negative_auc": m.get("siim_typical_vs_negative_auc"),
        "score": score,
    }
    tqdm.write(
        f"epoch {epoch}{f' swa{averaged}' if averaged else ''}: loss {row['loss']:.3f} "
        f"val macroAUC {m['macro_auc']:.4f} bacc {m['balanced_accuracy']:.3f} "
        f"nll {m['nll']:.3f} cohenAUC {cohen} siimAUC {row['val_siim_typical_vs_negative_auc']}"
    )
    return row


class EpochJudge:
    """Score each epoch on val, keep the weight average, and pick the weights to ship."""

    def __init__(self, *, model, config: TrainConfig, x_val, val_rows, x_train) -> None:
        import tensorflow as tf

        size = config.image_size
        self.model, self.config, self.x_val, self.x_train = model, config, x_val, x_train
        self.rows = val_rows
        self.labels = label_indices(labels=[r["label"] for r in val_rows])
        self.average = WeightAverage()
        self.average_from = max(1, int(np.ceil(config.epochs * config.swa_start)))
        self.result = FitResult(weights=model.get_weights(), epoch=0, averaged=0)
        self.best_score = -np.inf

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32)])
        def logits_of(x):
            return model(x, training=False)["disease"]

        self._logits_of = logits_of

    def _score(self, *, epoch: int, logs, averaged: int) -> float:
        x = self.x_val
        z = np.concatenate(
            [self._logits_of(x[i : i + 64, ..., None]).numpy() for i in range(0, len(x), 64)]
        )
        z = z - z.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        score, m = val_score(probs=probs, labels=self.labels, rows=self.rows)
        self.result.history.append(
            history_row(epoch=epoch, logs=logs, m=m, score=score, averaged=averaged)
        )
        return score

    def _keep(self, *, score: float, epoch: int, weights, averaged: int) -> bool:
        better = score > self.best_score
        # Under "swa" the latest average ships whatever its score: val inside Cohen rests on
        # a dozen negatives, too noisy to pick epochs by.
        if better or (self.config.select == "swa" and averaged > 1):
            self.best_score = max(score, self.best_score)
            self.result.weights, self.result.epoch, self.result.averaged = weights, epoch, averaged
        return better

    def epoch_end(self, *, epoch: int, logs) -> bool:
        """Judge epoch `epoch` (1-based); return True to stop early."""
        current = self.model.get_weights()
        improved = self._keep(
            score=self._score(epoch=epoch, logs=logs, averaged=0),
            epoch=epoch,
            weights=current,
            averaged=0,
        )
        if epoch >= self.average_from:
            self.average.add(weights=current)
            if self.average.count > 1:
                self.model.set_weights(self.average.mean())
                bn_statistics_refresh(model=self.model, x=self.x_train)
                averaged = self.model.get_weights()
                score = self._score(epoch=epoch, logs=logs, averaged=self.average.count)
                improved |= self._keep(
                    score=score, epoch=epoch, weights=averaged, averaged=self.average.count
                )
                self.model.set_weights(current)
        stale = epoch - self.result.epoch >= self.config.patience
        return self.config.select == "best" and not improved and stale
