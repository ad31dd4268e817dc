"""Screen image files from the command line.

    python -m mlcore.predict FILE... [--json] [--heatmap-dir DIR] [--model NAME]

Prints one line per file (a JSON object with --json): file, accepted, reason, label (argmax),
decision and operating_point, probabilities, evidence_in_lungs, model, ms; an unreadable
file gets `error` instead. Exit status: 0 when at least one file was screened (accepted or
refused), 1 when every file failed to decode, 2 when the model cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def parser_build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlcore.predict", description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--heatmap-dir", type=Path, default=None, help="write <name>.overlay.jpg here")
    p.add_argument("--model", default=None, help="model name (default: the registry default)")
    p.add_argument("--weights-dir", type=Path, default=None, help="overrides CXR_WEIGHTS_DIR")
    return p


def record_format(*, record: dict, as_json: bool) -> str:
    if as_json:
        return json.dumps(record)
    if "error" in record:
        return f"{record['file']}: ERROR {record['error']}"
    if not record["accepted"]:
        return f"{record['file']}: refused ({record['reason']})"
    probs = " ".join(f"{k}={v:.3f}" for k, v in record["probabilities"].items())
    decided = f"{record['decision']} at {record['operating_point']}" if record["decision"] else ""
    check = (
        " (check: the heatmap is outside the lung fields)"
        if record["evidence_outside_lungs"]
        else ""
    )
    return f"{record['file']}: {decided or record['label']} [{probs}]{check} {record['ms']:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    from mlcore.errors import ImageError, ModelUnavailableError
    from mlcore.pipeline import Screener

    try:
        screener = Screener.load(name=args.model, weights_dir=args.weights_dir)
    except ModelUnavailableError as exc:
        print(json.dumps({"error": str(exc)}) if args.json else f"error: {exc}", file=sys.stderr)
        return 2
    model = f"{screener.card.name}@{screener.card.version}"
    if args.heatmap_dir:
        args.heatmap_dir.mkdir(parents=True, exist_ok=True)
    iterator = args.files
    if len(args.files) > 1 and not args.json:
        from tqdm import tqdm

        iterator = tqdm(args.files, desc="screen", unit="img", file=sys.stderr)
    failures = 0
    for path in iterator:
        t = time.perf_counter()
        record: dict = {"file": str(path)}
        try:
            result = screener.screen(data=path.read_bytes(), filename=path.name)
        except (ImageError, OSError) as exc:
            failures += 1
            record["error"] = getattr(exc, "message", None) or str(exc)
            record["code"] = getattr(exc, "code", "io_error")
            print(record_format(record=record, as_json=args.json), flush=True)
            continue
        record.update(accepted=result.accepted, reason=result.reason, model=model)
        if result.accepted:
            record.update(
                label=result.label,
                decision=result.decision,
                operating_point=result.operating_point,
                probabilities=result.probabilities,
                evidence_in_lungs=result.evidence_in_lungs,
                evidence_outside_lungs=result.evidence_outside_lungs,
            )
            if args.heatmap_dir and result.overlay_jpeg:
                (args.heatmap_dir / f"{path.stem}.overlay.jpg").write_bytes(result.overlay_jpeg)
        record["ms"] = round((time.perf_counter() - t) * 1000, 2)
        print(record_format(record=record, as_json=args.json), flush=True)
    return 1 if failures == len(args.files) else 0


if __name__ == "__main__":
    sys.exit(main())
