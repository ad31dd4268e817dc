"""Commands that finish trained classifiers without training: `recalibrate` and `ensemble`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.config import DEFAULT_OOD, TrainConfig
from training.ensemble import AVERAGES

N_SYNTHETIC = TrainConfig(data=[], out=Path()).n_synthetic


def _ood_default() -> Path | None:
    return DEFAULT_OOD if DEFAULT_OOD.is_dir() else None


def recalibrate_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `recalibrate` options."""
    parser.add_argument("--model-dir", type=Path, required=True, help="e.g. mlcore/weights/cxr-v3")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="its training data")
    parser.add_argument("--view-shift", type=int, required=True, help="+-N px views (0 = off)")
    parser.add_argument("--ood", type=Path, default=_ood_default())
    parser.add_argument("--no-ood", action="store_true")
    parser.add_argument("--synthetic", type=int, default=N_SYNTHETIC)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--version", default="", help="new card version (default: keep)")


def ensemble_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `ensemble` options."""
    parser.add_argument(
        "--members", type=Path, nargs="+", required=True, help="finished model folders"
    )
    parser.add_argument("--out", type=Path, required=True, help="e.g. mlcore/weights/cxr-v3")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="their training data")
    parser.add_argument("--name", required=True, help="the registry name, e.g. cxr-v3")
    parser.add_argument("--version", required=True, help="the card version, e.g. 3.2.0")
    parser.add_argument(
        "--average",
        choices=AVERAGES,
        default=AVERAGES[0],
        help="outputs: one graph averaging the members' logits; weights: one network of their "
        "mean weights (members of one architecture and start)",
    )
    parser.add_argument("--ood", type=Path, default=_ood_default())
    parser.add_argument("--no-ood", action="store_true")
    parser.add_argument("--synthetic", type=int, default=N_SYNTHETIC)
    parser.add_argument("--cache-dir", type=Path, default=None)


def finish_main(*, args: argparse.Namespace) -> int:
    """Run `recalibrate` or `ensemble` and print the refitted temperature and val figure."""
    if args.command == "ensemble":
        from training.ensemble import ensemble_run

        card = ensemble_run(
            member_dirs=list(args.members),
            out=args.out,
            data=list(args.data),
            ood=None if args.no_ood else args.ood,
            n_synthetic=args.synthetic,
            cache_dir=args.cache_dir,
            name=args.name,
            version=args.version,
            average=args.average,
        )
    else:
        from training.recalibrate import recalibrate_run

        card = recalibrate_run(
            model_dir=args.model_dir,
            data=list(args.data),
            view_shift=args.view_shift,
            ood=None if args.no_ood else args.ood,
            n_synthetic=args.synthetic,
            cache_dir=args.cache_dir,
            version=args.version,
        )
    val = card.evaluation.get("val", {})
    print(json.dumps({"temperature": card.temperature, "val_macro_auc": val.get("macro_auc")}))
    return 0
