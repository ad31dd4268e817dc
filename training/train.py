"""Train the two-head CNN, calibrate it, fit the gate and write model.keras + card.json."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.card import GATE_STATS_FILENAME, MODEL_FILENAME, ModelCard, card_save
from mlcore.preprocess import PREPROCESSING_DESCRIPTION
from training.data import (
    GATE_LABELS,
    LABELS,
    OOD_KIND_TO_GATE,
    arrays_build,
    hash_split,
    label_indices,
    pixels_arrays,
    rows_hash,
    table_arrays,
    table_filter,
    table_read,
)
from training.finish import gate_stats_save, model_finish, view_shift_check
from training.metrics import metrics_compute
from training.negatives import negatives_generate

STRATUM_WEIGHT_RANGE = (0.3, 3.0)


@dataclass
class TrainConfig:
    data: Path
    out: Path
    epochs: int = 40
    seed: int = 0
    image_size: int = 128
    batch_size: int = 32
    learning_rate: float = 2e-3
    patience: int = 8
    ood: Path | None = None
    n_synthetic: int = 400
    cache_dir: Path | None = None
    width: float = 2.0
    gate_loss_weight: float = 0.5
    # Loss weight of the source head trained through gradient reversal; 0 = off.
    source_adversary: float = 0.0
    # Average the weights of every epoch from this fraction of the run on (SWA); 1.0 = off.
    # Defaults are the shipped cxr-v1 1.4.0 recipe (docs/model-experiments.md, run I).
    swa_start: float = 0.5
    # "swa": ship the weight average at the end of the run (val only calibrates);
    # "best": ship the epoch (or average) with the best val score, with early stopping.
    select: str = "swa"
    # Test-time views (see mlcore.classifier); calibration and the gate are fitted with them.
    view_shift: int = 4
    # Anti-aliased (blurred) downsampling in the stride-2 blocks (training.model.blur_pool).
    antialias: bool = True
    # Mirror training images left-right with p=0.5 (augmentation only; inference never flips).
    flip: bool = False
    # Mixup alpha on pairs of radiographs (0 = off): soft targets, smoother decision borders.
    mixup: float = 0.0
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sample_weights_compute(*, labels: np.ndarray, sources: list[str]) -> np.ndarray:
    """Balance labels inside each source (capped), then balance classes overall; mean 1.

    Up-weighting e.g. Cohen's few pneumonias against Cohen's many covids makes 'looks like a
    Cohen figure' a worse predictor of covid, pushing the model toward the lungs.
    """
    labels = np.asarray(labels)
    src = np.asarray(sources)
    w = np.ones(len(labels), dtype=np.float64)
    for s in set(sources):
        m = src == s
        present = np.unique(labels[m])
        for c in present:
            mc = m & (labels == c)
            w[mc] = m.sum() / (len(present) * mc.sum())
    w = np.clip(w, *STRATUM_WEIGHT_RANGE)
    for c in np.unique(labels):
        mc = labels == c
        w[mc] *= len(labels) / (len(np.unique(labels)) * w[mc].sum())
    return (w / w.mean()).astype(np.float32)


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


@dataclass
class GateSet:
    """Negatives for the gate head: arrays, gate labels and a split per item."""

    arrays: np.ndarray
    gate_labels: np.ndarray
    splits: list[str]
    kinds: list[str]
    sources: list[str]


def gate_negatives_build(*, config: TrainConfig) -> GateSet:
    """Collect ood images (split by file hash) and synthetic negatives (own seeds)."""
    arrays, labels, splits, kinds, sources = [], [], [], [], []
    if config.ood is not None and (config.ood / "metadata.csv").is_file():
        table = table_read(root=config.ood)
        rows = [r for r in table.rows if r.get("kind") in OOD_KIND_TO_GATE]
        arrays.append(
            arrays_build(
                paths=[table.root / r["file"] for r in rows],
                size=config.image_size,
                desc="ood",
                cache_dir=config.cache_dir,
            )
        )
        labels += [OOD_KIND_TO_GATE[r["kind"]] for r in rows]
        splits += [hash_split(key=r["file"]) for r in rows]
        kinds += [r["kind"] for r in rows]
        sources += [r.get("source", "") for r in rows]
    n_val = config.n_synthetic // 4
    for split, n, seed in (("train", config.n_synthetic, 1000), ("val", n_val, 2000)):
        neg = negatives_generate(n=n, seed=config.seed + seed)
        arrays.append(pixels_arrays(pixels=[p for _, p in neg], size=config.image_size))
        labels += [GATE_LABELS.index("other")] * len(neg)
        splits += [split] * len(neg)
        kinds += [k for k, _ in neg]
        sources += ["synthetic"] * len(neg)
    size = config.image_size
    stacked = np.concatenate(arrays) if arrays else np.zeros((0, size, size), np.float32)
    return GateSet(stacked, np.array(labels, np.int32), splits, kinds, sources)


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
):
    """tf.data pipeline over in-memory arrays: shuffle, batch, augment, prefetch.

    `targets` and `weights` are dicts keyed by output name; with `label_onehot` the inputs are
    a dict {"image", "label"} (for the source-adversarial training model). With `mixup` the
    "disease" targets must be one-hot.
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
        xb = batch_augment(inp["image"], flip=flip) if augment else inp["image"]
        if augment and mixup > 0:
            xb, disease = batch_mixup(
                images=xb, targets=tb["disease"], weights=wb["disease"], alpha=mixup
            )
            tb = {**tb, "disease": disease}
        if "label" in inp:
            return {"image": xb, "label": inp["label"]}, tb, wb
        return xb, tb, wb

    return ds.map(pack, num_parallel_calls=2).prefetch(2)


def bn_statistics_refresh(*, model, x: np.ndarray, batch_size: int = 64, batches: int = 24) -> None:
    """Re-estimate BatchNorm moving statistics of averaged weights on un-augmented images."""
    # Averaging BN statistics across epochs is only approximate; a few training-mode
    # forward passes (momentum 0.9) replace them with those of the averaged network.
    rng = np.random.default_rng(0)
    for _ in range(batches):
        idx = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        model(x[idx][..., None], training=True)


def _val_score(*, probs: np.ndarray, labels: np.ndarray, sources: list[str]) -> tuple[float, dict]:
    """Model-selection score: macro AUC plus within-Cohen covid AUC (the shortcut-free part)."""
    m = metrics_compute(probs=probs, labels=labels, sources=sources)
    cohen = (m.get("covid_vs_rest_auc_within_source") or {}).get("cohen")
    score = (m["macro_auc"] or 0.0) + (cohen if cohen is not None else 0.0) * 0.5
    return score, m


def train_run(*, config: TrainConfig) -> ModelCard:
    """Run the full training recipe; return the written card."""
    # Refuse a bad configuration before paying for the TensorFlow import.
    view_shift_check(view_shift=config.view_shift, size=config.image_size)
    if config.mixup < 0:
        raise SystemExit(f"--mixup must be >= 0 (0 = off), not {config.mixup}")
    if config.mixup > 0 and config.source_adversary > 0:
        raise SystemExit("--mixup and --source-adversary cannot be combined")
    import keras
    import tensorflow as tf

    from training.model import classifier_build

    t_start = time.time()
    keras.utils.set_random_seed(config.seed)
    table = table_read(root=config.data)
    train_t = table_filter(table=table, split="train")
    val_t = table_filter(table=table, split="val")
    test_t = table_filter(table=table, split="test")
    if not train_t.rows or not val_t.rows:
        raise SystemExit("metadata.csv needs rows with split=train and split=val")
    size = config.image_size

    def arrays_of(t, desc):
        return table_arrays(table=t, size=size, desc=desc, cache_dir=config.cache_dir)

    x_tr, x_va = arrays_of(train_t, "train"), arrays_of(val_t, "val")
    x_te = arrays_of(test_t, "test") if test_t.rows else None
    y_tr = label_indices(labels=train_t.column("label"))
    y_va = label_indices(labels=val_t.column("label"))
    s_tr, s_va = train_t.column("source", "all"), val_t.column("source", "all")
    negs = gate_negatives_build(config=config)
    neg_tr = np.array([s == "train" for s in negs.splits], bool)

    # Disease loss only on radiographs; gate loss on everything, classes balanced (capped).
    x_all = np.concatenate([x_tr, negs.arrays[neg_tr]])
    y_all = np.concatenate([y_tr, np.zeros(neg_tr.sum(), np.int32)])
    g_all = np.concatenate([np.zeros(len(x_tr), np.int32), negs.gate_labels[neg_tr]])
    wy_all = np.concatenate(
        [sample_weights_compute(labels=y_tr, sources=s_tr), np.zeros(neg_tr.sum(), np.float32)]
    )
    counts = np.bincount(g_all, minlength=len(GATE_LABELS)).astype(np.float64)
    gw = np.clip(len(g_all) / (len(GATE_LABELS) * np.maximum(counts, 1)), 0.2, 8.0)
    wg_all = (gw[g_all] * config.gate_loss_weight).astype(np.float32)
    targets = {"disease": y_all, "gate": g_all}
    weights = {"disease": wy_all, "gate": wg_all}
    if config.mixup > 0:
        # Mixup needs soft targets; negatives keep a dummy row (their disease weight is 0).
        targets["disease"] = np.eye(len(LABELS), dtype=np.float32)[y_all]
    disease_loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if config.mixup > 0
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    losses = {
        "disease": disease_loss,
        "gate": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    }
    model = classifier_build(input_size=size, width=config.width, antialias=config.antialias)
    fit_model, label_onehot = model, None
    source_names = sorted(set(s_tr))
    if config.source_adversary > 0 and len(source_names) > 1:
        from training.model import adversary_attach

        fit_model = adversary_attach(model=model, n_sources=len(source_names), scale=1.0)
        targets["source"] = np.concatenate(
            [[source_names.index(s) for s in s_tr], np.zeros(neg_tr.sum(), np.int64)]
        ).astype(np.int32)
        weights["source"] = np.concatenate(
            [np.full(len(x_tr), config.source_adversary), np.zeros(neg_tr.sum())]
        ).astype(np.float32)
        losses["source"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        label_onehot = np.eye(len(LABELS), dtype=np.float32)[y_all]
    train_ds = dataset_make(
        x=x_all,
        targets=targets,
        weights=weights,
        label_onehot=label_onehot,
        batch_size=config.batch_size,
        seed=config.seed,
        augment=True,
        flip=config.flip,
        mixup=config.mixup,
    )

    steps = max(1, len(x_all) // config.batch_size) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate * 0.1,
        steps,
        warmup_target=config.learning_rate,
        warmup_steps=max(1, len(x_all) // config.batch_size),
    )
    fit_model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), loss=losses)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32)])
    def logits_of(x):
        return model(x, training=False)["disease"]

    def val_probs() -> np.ndarray:
        parts = [logits_of(x_va[i : i + 64, ..., None]).numpy() for i in range(0, len(x_va), 64)]
        z = np.concatenate(parts)
        z = z - z.max(axis=1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    history: list[dict[str, Any]] = []
    best = {"score": -np.inf, "epoch": -1, "weights": None, "averaged": 0}
    swa: dict[str, Any] = {"sum": None, "n": 0}
    swa_from = max(1, int(np.ceil(config.epochs * config.swa_start)))

    def history_row(*, epoch: int, logs, m: dict, score: float, averaged: int) -> dict:
        cohen = (m.get("covid_vs_rest_auc_within_source") or {}).get("cohen")
        row = {
            "epoch": epoch,
            "averaged_epochs": averaged,
            "loss": float((logs or {}).get("loss", np.nan)),
            "val_macro_auc": m["macro_auc"],
            "val_balanced_accuracy": m["balanced_accuracy"],
            "val_nll": m["nll"],
            "val_cohen_covid_auc": cohen,
            "score": score,
        }
        history.append(row)
        tqdm.write(
            f"epoch {epoch}{f' swa{averaged}' if averaged else ''}: loss {row['loss']:.3f} "
            f"val macroAUC {m['macro_auc']:.4f} bacc {m['balanced_accuracy']:.3f} "
            f"nll {m['nll']:.3f} cohenAUC {cohen}"
        )
        return row

    class Selector(keras.callbacks.Callback):
        """Keep the best weights by validation score; stop after `patience` epochs without gain."""

        def on_epoch_end(self, epoch, logs=None):
            improved = False
            current = model.get_weights()
            score, m = _val_score(probs=val_probs(), labels=y_va, sources=s_va)
            history_row(epoch=epoch + 1, logs=logs, m=m, score=score, averaged=0)
            if score > best["score"]:
                best.update(score=score, epoch=epoch + 1, weights=current, averaged=0)
                improved = True
            if epoch + 1 >= swa_from:
                # Stochastic weight averaging: a free ensemble at inference time.
                if swa["sum"] is None:
                    swa["sum"] = [w.astype(np.float64) for w in current]
                else:
                    swa["sum"] = [a + w for a, w in zip(swa["sum"], current, strict=True)]
                swa["n"] += 1
                if swa["n"] > 1:
                    averaged = [
                        (a / swa["n"]).astype(w.dtype)
                        for a, w in zip(swa["sum"], current, strict=True)
                    ]
                    model.set_weights(averaged)
                    bn_statistics_refresh(model=model, x=x_tr)
                    averaged = model.get_weights()
                    score_a, m_a = _val_score(probs=val_probs(), labels=y_va, sources=s_va)
                    history_row(epoch=epoch + 1, logs=logs, m=m_a, score=score_a, averaged=swa["n"])
                    model.set_weights(current)
                    if score_a > best["score"]:
                        best.update(
                            score=score_a, epoch=epoch + 1, weights=averaged, averaged=swa["n"]
                        )
                        improved = True
            if config.select == "swa" and swa["n"] > 1:
                # Val AUC inside Cohen rests on a dozen negatives: too noisy to pick epochs
                # by. The average over the end of the cosine schedule needs no picking.
                best.update(score=score_a, epoch=epoch + 1, weights=averaged, averaged=swa["n"])
            elif (
                config.select == "best"
                and not improved
                and epoch + 1 - best["epoch"] >= config.patience
            ):
                self.model.stop_training = True

    epochs_bar = tqdm(total=config.epochs, desc="epochs", unit="ep")

    class Bar(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_bar.update(1)

    t_fit = time.time()
    fit_model.fit(train_ds, epochs=config.epochs, verbose=0, callbacks=[Selector(), Bar()])
    epochs_bar.close()
    fit_seconds = time.time() - t_fit
    model.set_weights(best["weights"])

    # Save a fresh, uncompiled copy: the .keras file then carries no optimizer state.
    infer = classifier_build(input_size=size, width=config.width, antialias=config.antialias)
    infer.set_weights(model.get_weights())
    config.out.mkdir(parents=True, exist_ok=True)
    infer.save(config.out / MODEL_FILENAME)

    finished = model_finish(
        model=infer,
        view_shift=config.view_shift,
        x_train=x_tr,
        x_val=x_va,
        val_table=val_t,
        x_test=x_te,
        test_table=test_t,
        negatives=negs,
    )
    gate_stats_save(path=config.out / GATE_STATS_FILENAME, finished=finished)

    used_rows = train_t.rows + val_t.rows
    card = ModelCard(
        name=config.out.name,
        version=config.version or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M"),
        labels=list(LABELS),
        input_size=size,
        preprocessing=PREPROCESSING_DESCRIPTION,
        temperature=finished.temperature,
        view_shift=config.view_shift,
        gate=finished.thresholds.to_dict(),
        gate_labels=list(GATE_LABELS),
        training={
            "data": str(config.data.resolve()),
            "split_sha256": rows_hash(rows=used_rows),
            "n_train": len(train_t.rows),
            "n_val": len(val_t.rows),
            "n_gate_negatives_train": int(neg_tr.sum()),
            "ood": str(config.ood.resolve()) if config.ood else None,
            "epochs_run": max((r["epoch"] for r in history), default=0),
            "best_epoch": best["epoch"],
            "best_averaged_epochs": best["averaged"],
            "swa_start": config.swa_start,
            "select": config.select,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "width": config.width,
            "antialias": config.antialias,
            "flip": config.flip,
            "mixup": config.mixup,
            "source_adversary": config.source_adversary,
            "params": int(infer.count_params()),
            "fit_seconds": round(fit_seconds, 1),
            "total_seconds": round(time.time() - t_start, 1),
            "history": history,
            **config.extra,
        },
        evaluation=finished.evaluation,
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        git_commit=git_commit(),
    )
    card_save(card=card, path=config.out / "card.json")
    return card
