"""Command line: `python -m training train|ensemble|evaluate|operating-points|... `."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from mlcore.gatemodel import TEXTURE_DEFAULT, TEXTURE_READS
from training.cli_evaluate import evaluate_arguments_add, evaluate_main
from training.cli_finish import ensemble_arguments_add, finish_main, recalibrate_arguments_add
from training.config import BACKBONES, DEFAULT_OOD, ConfigError, TrainConfig

DEFAULTS = TrainConfig(data=[], out=Path())
# On/off options of `train`, each named after its TrainConfig field.
SWITCHES = (
    ("--pretrained", "start from ImageNet weights (efficientnet-lite backbones only)"),
    ("--antialias", "cxrnet: blur before each stride-2 subsampling"),
    ("--flip", "mirror training images left-right with p=0.5"),
)
# Numeric options of `train`, each named after its TrainConfig field.
NUMBERS = (
    ("--epochs", int, "passes over the training films"),
    ("--seed", int, "random seed of the start (and of the data unless --data-seed)"),
    ("--data-seed", int, "seed of the film order and augmentation (default: --seed)"),
    ("--image-size", int, "model input side in px"),
    ("--batch-size", int, "films per step"),
    ("--learning-rate", float, "peak learning rate of the cosine schedule"),
    ("--patience", int, "epochs without gain before --select best stops"),
    ("--swa-start", float, "average weights from this fraction of the epochs on (1.0 = off)"),
    ("--source-adversary", float, "loss weight of a gradient-reversed source head"),
    ("--width", float, "cxrnet channel multiplier"),
    ("--mixup", float, "mixup alpha (0 = off)"),
    ("--augment", float, "scale of zoom, rotation and photometric augmentation (1 = full)"),
    ("--distill-weight", float, "teachers' share of a labelled film's target"),
)


def train_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `train` options; every default comes from TrainConfig."""
    t, d = parser, DEFAULTS
    t.add_argument(
        "--data",
        type=Path,
        nargs="+",
        required=True,
        help="one or more folders with metadata.csv (e.g. cxr and siim)",
    )
    t.add_argument("--out", type=Path, required=True, help="e.g. mlcore/weights/cxr-v3")
    t.add_argument("--backbone", choices=BACKBONES, default=d.backbone)
    for flag, help_text in SWITCHES:
        t.add_argument(
            flag,
            action=argparse.BooleanOptionalAction,
            default=getattr(d, flag[2:].replace("-", "_")),
            help=help_text,
        )
    t.add_argument(
        "--freeze",
        nargs="*",
        default=None,
        help="layer-name prefixes kept frozen when pretrained (default: the stem and first two "
        "stages of the Lite backbone; give none to train every layer)",
    )
    for flag, kind, help_text in NUMBERS:
        field = flag[2:].replace("-", "_")
        t.add_argument(flag, type=kind, default=getattr(d, field), help=help_text)
    t.add_argument(
        "--select",
        choices=("swa", "best"),
        default=d.select,
        help="ship the final weight average (swa) or the best val epoch",
    )
    t.add_argument(
        "--view-shift",
        type=int,
        default=d.view_shift,
        help="test-time views moved by +-N px, averaged (0 = the image alone)",
    )
    t.add_argument(
        "--ood",
        type=Path,
        default=DEFAULT_OOD if DEFAULT_OOD.is_dir() else None,
        help="negative set for the gate (metadata.csv with kind); default %(default)s",
    )
    t.add_argument("--no-ood", action="store_true", help="gate on synthetic negatives only")
    t.add_argument(
        "--synthetic", type=int, default=d.n_synthetic, help="synthetic negatives for the gate"
    )
    t.add_argument(
        "--source-weight",
        type=source_weight_parse,
        action="append",
        default=[],
        metavar="SOURCE=W",
        help="weigh every training film of SOURCE W times (repeatable)",
    )
    t.add_argument("--cache-dir", type=Path, default=None, help="cache decoded arrays here")
    distill_arguments_add(parser=t)
    t.add_argument("--version", default="")


# Options naming folders or files a run starts from, each with its TrainConfig field.
PATH_LISTS = (
    ("--teacher", "teachers", "finished model folders to distil (mean calibrated probabilities)"),
    ("--unlabelled", "unlabelled", "CSVs of unlabelled films learned from the teachers (2/3)"),
)


def distill_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the options that start a model from others: teachers, unlabelled films, SSL."""
    for flag, field, help_text in PATH_LISTS:
        default = list(getattr(DEFAULTS, field))
        parser.add_argument(flag, type=Path, nargs="*", default=default, help=help_text)
    parser.add_argument(
        "--lung-crop",
        type=Path,
        default=DEFAULTS.lung_crop,
        help="folder with lungs.keras: train on the box around the lung fields",
    )
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=DEFAULTS.init_weights,
        help="trunk weights written by `pretrain` to start from",
    )


def source_weight_parse(text: str) -> tuple[str, float]:
    """Return (source, weight) of a `SOURCE=W` option; argparse names a malformed one."""
    source, sep, weight = text.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = None
    if not sep or not source or value is None:
        raise argparse.ArgumentTypeError(f"expected SOURCE=WEIGHT (e.g. cohen=3), not {text!r}")
    return source, value


def train_config_of(*, args: argparse.Namespace) -> TrainConfig:
    """Return the TrainConfig the parsed `train` arguments describe."""
    return TrainConfig(
        data=list(args.data),
        out=args.out,
        backbone=args.backbone,
        pretrained=args.pretrained,
        freeze=None if args.freeze is None else tuple(args.freeze),
        epochs=args.epochs,
        seed=args.seed,
        data_seed=args.data_seed,
        image_size=args.image_size,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        width=args.width,
        swa_start=args.swa_start,
        select=args.select,
        source_adversary=args.source_adversary,
        source_weights=tuple(args.source_weight),
        view_shift=args.view_shift,
        antialias=args.antialias,
        flip=args.flip,
        mixup=args.mixup,
        augment=args.augment,
        ood=None if args.no_ood else args.ood,
        n_synthetic=args.synthetic,
        cache_dir=args.cache_dir,
        teachers=tuple(args.teacher),
        distill_weight=args.distill_weight,
        unlabelled=tuple(args.unlabelled),
        init_weights=args.init_weights,
        lung_crop=args.lung_crop,
        version=args.version,
    )


def pretrain_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `pretrain` options; every default comes from PretrainConfig."""
    from training.pretrain import PretrainConfig

    d = PretrainConfig(data=[], out=Path())
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="train splits used")
    parser.add_argument("--unlabelled", type=Path, nargs="*", default=list(d.unlabelled))
    parser.add_argument("--out", type=Path, required=True, help="a .weights.h5 file")
    for flag in ("--image-size", "--epochs", "--batch-size", "--seed"):
        parser.add_argument(flag, type=int, default=getattr(d, flag[2:].replace("-", "_")))
    for flag in ("--learning-rate", "--temperature"):
        parser.add_argument(flag, type=float, default=getattr(d, flag[2:].replace("-", "_")))
    parser.add_argument("--cache-dir", type=Path, default=None)


def pretrain_main(*, args: argparse.Namespace) -> int:
    """Run `pretrain` and print its log."""
    from training.pretrain import PretrainConfig, pretrain_run

    # Every option is named after its PretrainConfig field.
    given = {f.name: getattr(args, f.name) for f in fields(PretrainConfig) if hasattr(args, f.name)}
    given.update(data=list(args.data), unlabelled=tuple(args.unlabelled))
    config = PretrainConfig(**given)
    try:
        print(json.dumps(pretrain_run(config=config)))
    except ConfigError as exc:
        parser_build().error(str(exc))
    return 0


def segment_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `segment` options; every default comes from SegmentConfig."""
    from training.segment import SegmentConfig

    d = SegmentConfig(data=Path(), out=Path())
    parser.add_argument("--data", type=Path, required=True, help="the lungs set (metadata.csv)")
    parser.add_argument("--out", type=Path, required=True, help="the model folder it joins")
    for flag in ("--epochs", "--batch-size", "--base-width", "--seed"):
        parser.add_argument(flag, type=int, default=getattr(d, flag[2:].replace("-", "_")))
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)


def segment_main(*, args: argparse.Namespace) -> int:
    """Run `segment` and print its Dice figures."""
    from training.segment import SegmentConfig, segment_run

    given = {f.name: getattr(args, f.name) for f in fields(SegmentConfig)}
    report = segment_run(config=SegmentConfig(**given))
    print(json.dumps({k: v for k, v in report.items() if k.startswith("dice_")}))
    return 0


# Options of `operating-points`: (flag, point, which target, default; None = Youden).
POINT_TARGETS = (
    ("--screening-sensitivity", "screening", "covid", 0.97),
    ("--screening-any-sensitivity", "screening", "any_pneumonia", 0.95),
    ("--balanced-sensitivity", "balanced", "covid", None),
    ("--balanced-any-sensitivity", "balanced", "any_pneumonia", None),
)


def operating_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `operating-points` options."""
    parser.add_argument("--model", default=None, help="model name (default: registry default)")
    parser.add_argument("--weights-dir", type=Path, default=None, help="overrides CXR_WEIGHTS_DIR")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="e.g. cxr and siim")
    for flag, point, target, default in POINT_TARGETS:
        what = "covid pattern" if target == "covid" else "any pneumonia"
        parser.add_argument(
            flag,
            type=float,
            default=default,
            help=f"{point}: {what} sensitivity to reach on val (default %(default)s; "
            "None: Youden index)",
        )
    parser.add_argument("--default", default="screening", help="the point screens run at")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)


def operating_main(*, args: argparse.Namespace) -> int:
    """Run `operating-points` and print each point's thresholds."""
    from training.evaluate import EvaluationError
    from training.operating import PointTargets, operating_points_run

    wanted: dict[str, dict] = {}
    for flag, point, target, _ in POINT_TARGETS:
        wanted.setdefault(point, {})[target] = getattr(args, flag[2:].replace("-", "_"))
    try:
        result = operating_points_run(
            model=args.model,
            weights_dir=args.weights_dir,
            data=list(args.data),
            targets=[PointTargets(name=name, **t) for name, t in wanted.items()],
            default=args.default,
            n_boot=args.bootstrap,
            seed=args.seed,
        )
    except (EvaluationError, ValueError) as exc:
        parser_build().error(str(exc))
    thresholds = {
        name: {k: p[k] for k in ("covid_min", "pneumonia_min")}
        for name, p in result["points"].items()
    }
    print(json.dumps({"model": result["model"], "default": result["default"], **thresholds}))
    return 0


def parser_build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train, calibrate, fit the gate, write model + card")
    train_arguments_add(parser=t)

    pre = sub.add_parser("pretrain", help="self-supervised (SimCLR) pretraining of the trunk")
    pretrain_arguments_add(parser=pre)

    r = sub.add_parser(
        "recalibrate",
        help="refit temperature and gate of a trained model for other test-time views",
    )
    recalibrate_arguments_add(parser=r)
    m = sub.add_parser(
        "ensemble", help="merge finished models of one size into one model averaging them"
    )
    ensemble_arguments_add(parser=m)

    s = sub.add_parser("segment", help="train the lung-field segmenter on lungs/")
    segment_arguments_add(parser=s)

    g = sub.add_parser("gate", help="fit gate 2 (kinds + lung fields) on a finished model")
    g.add_argument("--model-dir", type=Path, required=True, help="with model.keras + lungs.keras")
    g.add_argument("--data", type=Path, nargs="+", required=True, help="chest film sets")
    g.add_argument("--ood", type=Path, default=DEFAULT_OOD if DEFAULT_OOD.is_dir() else None)
    g.add_argument("--items-cache", type=Path, default=None, help="featurised items (.npz)")
    g.add_argument(
        "--feature-count",
        type=int,
        default=None,
        help="read only the first K pooled features (an ensemble's first member)",
    )
    g.add_argument(
        "--refit-draws",
        type=int,
        default=None,
        help="left-out refits again with features moved by 0.1%% of their spread, for the "
        "range of the worst source's figure (0: none); default 3",
    )
    g.add_argument(
        "--texture",
        choices=TEXTURE_READS,
        default=TEXTURE_DEFAULT,
        help="what the novelty's texture term reads of the trunk's middle layers: per-channel "
        "means, means and standard deviations, or off (default %(default)s; a classifier "
        "without those layers gives none, and the report's texture_read says 0)",
    )
    g.add_argument("--version", default="", help="new card version (default: keep)")
    g.add_argument(
        "--refits-only",
        action="store_true",
        help="only measure the refit range and add it to the card; gate.npz stays as fitted",
    )

    e = sub.add_parser("evaluate", help="evaluate a model; write report.json/.md and plots")
    evaluate_arguments_add(parser=e)

    d = sub.add_parser(
        "drift-reference",
        help="screen the val films; write drift_reference.json (the portal's drift bands)",
    )
    d.add_argument("--model-dir", type=Path, required=True, help="e.g. mlcore/weights/cxr-v3")
    d.add_argument("--data", type=Path, nargs="+", required=True, help="e.g. cxr and siim")
    d.add_argument("--split", default="val", help="the films screened (default %(default)s)")
    d.add_argument(
        "--limit", type=int, default=None, help="screen at most N films, drawn at random"
    )

    o = sub.add_parser(
        "operating-points",
        help="fit the screening and balanced points on val, judge them on test, write the card",
    )
    operating_arguments_add(parser=o)
    return p


def gate_main(*, args: argparse.Namespace) -> int:
    """Fit gate 2 and write it with its report, or (--refits-only) add the refit range only."""
    items = {
        "model_dir": args.model_dir,
        "data": list(args.data),
        "ood": args.ood,
        "items_cache": args.items_cache,
        "feature_count": args.feature_count,
        "texture": args.texture,
    }
    if args.refits_only:
        from training.gaterefits import gate_refits_run

        print(json.dumps(gate_refits_run(**items, refit_draws=args.refit_draws)))
        return 0
    from training.gatefit import gate_run

    report = gate_run(**items, refit_draws=args.refit_draws, version=args.version)
    print(json.dumps({k: report[k] for k in ("test", "leave_one_source_out", "refits")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    if args.command == "train":
        from training.train import train_run

        try:
            card = train_run(config=train_config_of(args=args))
        except ConfigError as exc:
            parser_build().error(str(exc))
        summary = {k: card.evaluation.get(k, {}).get("macro_auc") for k in ("val", "test")}
        print(
            json.dumps(
                {"out": str(args.out), "temperature": card.temperature, "macro_auc": summary}
            )
        )
        return 0
    if args.command == "pretrain":
        return pretrain_main(args=args)
    if args.command == "segment":
        return segment_main(args=args)
    if args.command == "gate":
        return gate_main(args=args)
    if args.command == "operating-points":
        return operating_main(args=args)
    if args.command == "drift-reference":
        from training.driftref import drift_reference_run

        reference = drift_reference_run(
            model_dir=args.model_dir, data=list(args.data), split=args.split, limit=args.limit
        )
        print(json.dumps({k: reference[k] for k in ("model", "films", "counts", "seconds")}))
        return 0
    if args.command in ("recalibrate", "ensemble"):
        try:
            return finish_main(args=args)
        except ConfigError as exc:
            parser_build().error(str(exc))
    try:
        return evaluate_main(args=args)
    except ConfigError as exc:
        parser_build().error(str(exc))
