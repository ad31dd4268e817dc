"""The `evaluate` command: judge a model inside each source; write its report (and card)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.config import ConfigError


def evaluate_arguments_add(*, parser: argparse.ArgumentParser) -> None:
    """Add the `evaluate` options."""
    parser.add_argument("--model", default=None, help="model name (default: registry default)")
    parser.add_argument("--weights-dir", type=Path, default=None, help="overrides CXR_WEIGHTS_DIR")
    parser.add_argument("--data", type=Path, nargs="+", required=True)
    parser.add_argument(
        "--csv", type=Path, default=None, help="CSV with file,label[,source] rel. to --data"
    )
    parser.add_argument(
        "--split", default="test", help="split to use when the CSV has one ('all': every row)"
    )
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument(
        "--ood", type=Path, default=None, help="negative set to evaluate the gate on"
    )
    parser.add_argument(
        "--accept",
        type=Path,
        nargs="*",
        default=[],
        help="more CSVs of chest films the gate must accept (e.g. siim/unlabelled.csv)",
    )
    parser.add_argument(
        "--card", action="store_true", help="store the figures in the model's card.json"
    )


def evaluate_main(*, args: argparse.Namespace) -> int:
    """Run `evaluate`, store the figures in the card when asked, print the headline."""
    from training.evaluate import EvaluationError, card_figures_update, evaluate_run

    lacking = [str(d) for d in args.data if not (d / "metadata.csv").is_file()]
    if args.csv is None and lacking:
        raise ConfigError(f"no metadata.csv in {', '.join(lacking)}")
    try:
        report = evaluate_run(
            model=args.model,
            weights_dir=args.weights_dir,
            data=list(args.data),
            csv_path=args.csv,
            split=None if args.split == "all" else args.split,
            report_dir=args.report,
            ood=args.ood,
            accept_csvs=list(args.accept),
        )
    except EvaluationError as exc:
        raise ConfigError(str(exc)) from exc
    if args.card:
        from mlcore.registry import model_dir_resolve

        card_figures_update(
            model_dir=model_dir_resolve(name=args.model, weights_dir=args.weights_dir),
            report=report,
        )
    print(json.dumps(report["headline"]))
    return 0
