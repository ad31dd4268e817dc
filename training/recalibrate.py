"""Re-fit a trained model's calibration and gate for other test-time views, without retraining.

Reads model.keras from the model's folder, runs `training.finish.model_finish` on the data it
was trained on (the split hash must match the card), and rewrites card.json and
gate_stats.npz. The weights are not touched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mlcore.card import (
    CARD_FILENAME,
    GATE_STATS_FILENAME,
    MODEL_FILENAME,
    ModelCard,
    card_load,
    card_save,
)
from training.data import rows_hash, table_arrays, table_filter, table_read
from training.finish import gate_stats_save, model_finish, view_shift_check


def recalibrate_run(
    *,
    model_dir: Path,
    data: Path,
    view_shift: int,
    ood: Path | None,
    n_synthetic: int = 400,
    cache_dir: Path | None = None,
    version: str = "",
) -> ModelCard:
    """Refit temperature, gate statistics and thresholds with `view_shift`; return the card."""
    from mlcore.classifier import keras_model_load
    from training.train import TrainConfig, gate_negatives_build, git_commit

    card = card_load(path=model_dir / CARD_FILENAME)
    model = keras_model_load(path=model_dir / MODEL_FILENAME)
    table = table_read(root=data)
    train_t, val_t, test_t = (table_filter(table=table, split=s) for s in ("train", "val", "test"))
    trained_on = card.training.get("split_sha256")
    if trained_on and rows_hash(rows=train_t.rows + val_t.rows) != trained_on:
        raise SystemExit(
            f"{data} is not the data {card.name} was trained on (split hash differs from card)"
        )
    size = card.input_size
    view_shift_check(view_shift=view_shift, size=size)

    def arrays_of(t, desc):
        return table_arrays(table=t, size=size, desc=desc, cache_dir=cache_dir)

    negatives = gate_negatives_build(
        config=TrainConfig(
            data=data,
            out=model_dir,
            image_size=size,
            ood=ood,
            n_synthetic=n_synthetic,
            cache_dir=cache_dir,
            seed=int(card.training.get("seed", 0)),
        )
    )
    finished = model_finish(
        model=model,
        view_shift=view_shift,
        x_train=arrays_of(train_t, "train"),
        x_val=arrays_of(val_t, "val"),
        val_table=val_t,
        x_test=arrays_of(test_t, "test") if test_t.rows else None,
        test_table=test_t,
        negatives=negatives,
    )
    gate_stats_save(path=model_dir / GATE_STATS_FILENAME, finished=finished)
    card.training["recalibrated"] = {
        "from_version": card.version,
        "view_shift": view_shift,
        "utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }
    card.version = version or card.version
    card.temperature = finished.temperature
    card.view_shift = view_shift
    card.gate = finished.thresholds.to_dict()
    card.evaluation = finished.evaluation
    card_save(card=card, path=model_dir / CARD_FILENAME)
    return card
