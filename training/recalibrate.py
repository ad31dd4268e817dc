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
    ModelCard,
    card_load,
    card_save,
)
from training.config import ConfigError, view_shift_check
from training.finish import gate_stats_save, trainset_finish
from training.gateset import gate_negatives_build
from training.trainset import splits_hash, training_data_build

# What the card says of the lung segmenter (lungs.keras), which recalibration leaves alone.
SEGMENTER_EVALUATION = ("lung_segmenter",)


def recalibrate_run(
    *,
    model_dir: Path,
    data: list[Path],
    view_shift: int,
    ood: Path | None,
    n_synthetic: int = 400,
    cache_dir: Path | None = None,
    version: str = "",
) -> ModelCard:
    """Refit temperature, gate statistics and thresholds with `view_shift`; return the card."""
    from mlcore.ensemble import model_network_load
    from training.train import git_commit

    card = card_load(path=model_dir / CARD_FILENAME)
    size = card.input_size
    view_shift_check(view_shift=view_shift, size=size)
    trained_on = card.training.get("split_sha256")
    if trained_on and splits_hash(roots=data) != trained_on:
        raise ConfigError(
            f"{', '.join(map(str, data))} is not the data {card.name} was trained on "
            "(split hash differs from card)"
        )
    trainset = training_data_build(roots=data, size=size, cache_dir=cache_dir)
    negatives = gate_negatives_build(
        ood=ood,
        n_synthetic=n_synthetic,
        size=size,
        seed=int(card.training.get("seed", 0)),
        cache_dir=cache_dir,
    )
    finished = trainset_finish(
        model=model_network_load(folder=model_dir, card=card),
        view_shift=view_shift,
        data=trainset,
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
    kept = {k: card.evaluation[k] for k in SEGMENTER_EVALUATION if k in card.evaluation}
    card.evaluation = {**finished.evaluation, **kept}
    card_save(card=card, path=model_dir / CARD_FILENAME)
    return card
