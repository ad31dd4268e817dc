"""The command line of `python -m bench [--only SECTION,...] [--quick] [--record]`.

Sections: model, baseline, pipeline, history, memory, pacs, shadow.

Writes results.json, RESULTS.md and results.png to bench/out/ (ignored by git), or with --record
to bench/, the committed figures of record. Sections run in this order:
model and baseline (each in its own TensorFlow subprocess), then on a fresh PostgreSQL database
`cxrscreen_bench_<pid>`: pipeline, memory and shadow (gunicorn + Celery on Redis; shadow: the same
load without and with a candidate screening in shadow), then history (seeded scale
data, in-process). Sections not run this time keep their figures from the previous results.json
(unless --fresh). `--report-only` rewrites bench/RESULTS.md and results.png from the committed
results.json (or those in --out-dir). Everything started is stopped and the database dropped,
even on errors.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.common import BENCH_DIR
from bench.targets import SUSTAINED_CLIENTS, SUSTAINED_WINDOW

# The portal settings' default cache, so that the bench measures what the worker runs.
COMPILED_DEFAULT = BENCH_DIR.parent / "var" / "compiled"

SECTIONS = ("model", "baseline", "pipeline", "history", "memory", "pacs", "shadow")

COUNTS = {
    #                    full    quick
    "model_n": (200, 30),
    "model_warmup": (10, 3),
    "baseline_n": (30, 5),
    "baseline_warmup": (3, 1),
    "latency_n": (30, 8),
    "throughput_n": (300, 20),  # 10 clients x 4 in flight: ramps stay a small part
    "memory_n": (2000, 60),
    "memory_every": (50, 20),
    "shadow_n": (200, 20),  # each of the two runs, without and with a candidate
    "history_studies": (500_000, 5_000),  # x 2 images: a million predictions
    "history_requests": (100, 20),
}


def _stack_options_add(*, p: argparse.ArgumentParser) -> None:
    """Add the options of the stack and of the load put on it (sections 3 and 5)."""
    p.add_argument(
        "--clients", type=int, default=SUSTAINED_CLIENTS, help="sustained-load API clients"
    )
    p.add_argument(
        "--client-window",
        type=int,
        default=SUSTAINED_WINDOW,
        help="images each sustained-load client keeps in flight (1: one at a time)",
    )
    p.add_argument("--poll-ms", type=int, default=20, help="low-load polling interval")
    p.add_argument(
        "--throughput-poll-ms",
        type=int,
        default=1000,
        help="polling interval of each sustained-load client",
    )
    p.add_argument("--gunicorn-workers", type=int, default=2)
    p.add_argument("--gunicorn-threads", type=int, default=1)
    p.add_argument("--worker-concurrency", type=int, default=2)


def args_parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)"
    )
    p.add_argument("--quick", action="store_true", help="small counts, for development")
    p.add_argument("--fresh", action="store_true", help="do not keep earlier sections' figures")
    p.add_argument("--record", action="store_true", help="write the figures of record in bench/")
    p.add_argument("--out-dir", type=Path, default=None, help="default bench/out (scratch)")
    p.add_argument(
        "--model",
        default=os.environ.get("CXR_MODEL_NAME"),
        help="registry name (default: CXR_MODEL_NAME or mlcore's default)",
    )
    p.add_argument(
        "--weights-dir",
        default=os.environ.get("CXR_WEIGHTS_DIR"),
        help="registry root (CXR_WEIGHTS_DIR)",
    )
    p.add_argument(
        "--compiled-dir",
        default=os.environ.get("CXR_COMPILED_DIR", str(COMPILED_DEFAULT)),
        help="the worker's flatbuffer cache (CXR_COMPILED_DIR); empty: Keras networks",
    )
    p.add_argument("--data-dir", type=Path, default=None, help="default ../shared/data/cxr")
    for key in COUNTS:
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=None)
    p.add_argument("--batch", type=int, default=16)
    _stack_options_add(p=p)
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite RESULTS.md and results.png from results.json (default: bench/)",
    )
    args = p.parse_args(argv)
    # Measuring runs are scratch unless recorded; re-rendering works on the figures of record.
    record = args.record or args.report_only
    args.out_dir = args.out_dir or (BENCH_DIR if record else BENCH_DIR / "out")
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    for key, (full, quick) in COUNTS.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    return args
