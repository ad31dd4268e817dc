"""Latency benchmark: python -m training.speed [--model NAME] [--data DIR] [-n 100].

Reports p50/p90 ms for the batch-1 forward pass and for the whole screen() path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.median(a)), 2), "p90": round(float(np.quantile(a, 0.9)), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.speed")
    p.add_argument("--model", default=None)
    p.add_argument("--weights-dir", type=Path, default=None)
    p.add_argument("--data", type=Path, default=Path("/work/shared/data/cxr"))
    p.add_argument("-n", type=int, default=100)
    args = p.parse_args(argv)

    from mlcore.pipeline import Screener
    from mlcore.preprocess import radiograph_preprocess
    from training.data import table_read

    screener = Screener.load(name=args.model, weights_dir=args.weights_dir)
    rows = table_read(root=args.data).rows[
        :: max(1, len(table_read(root=args.data).rows) // args.n)
    ]
    files = [(args.data / r["file"]).read_bytes() for r in rows][: args.n]
    size = screener.classifier.input_size
    classify, full, stages = [], [], []
    for data in files:
        r = screener.screen(data=data)
        full.append(sum(r.timings_ms.values()) / 1000)
        stages.append(r.timings_ms)
    from mlcore.imageio import image_decode

    arrays = [
        radiograph_preprocess(pixels=image_decode(data=d).pixels, size=size).array for d in files
    ]
    for a in arrays:
        t = time.perf_counter()
        screener.classifier.run(batch=a[None])
        classify.append(time.perf_counter() - t)
    batch = np.stack(arrays[:32])
    t = time.perf_counter()
    screener.classify_batch(batch=batch)
    per_img_batched = (time.perf_counter() - t) / len(batch)
    out = {
        "n": len(files),
        "classify_batch1_ms": percentiles(classify),
        "screen_total_ms": percentiles(full),
        "stage_p50_ms": {k: round(float(np.median([s[k] for s in stages])), 2) for k in stages[0]},
        "batched_ms_per_image": round(per_img_batched * 1000, 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
