"""Section 1, the model path: per-stage latency at batch 1 and classify throughput at batch 16.

Runs in its own process (`python -m bench.model_path ...`) so TensorFlow's memory and warm-up
stay out of the other figures.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_images_load, json_write, percentiles_summarise, profile_text
from bench.targets import STAGES

FULL_STAGES = ("gate", "classify", "lungs", "gradcam", "overlay")


def _input_size(*, screener: Any) -> int:
    """Find the classifier's square input side on the loaded screener."""
    for owner in (screener, getattr(screener, "classifier", None)):
        size = getattr(owner, "input_size", None)
        if size:
            return int(size)
    from mlcore.preprocess import INPUT_SIZE_DEFAULT

    return INPUT_SIZE_DEFAULT


def batch_inputs_prepare(*, screener: Any, images: list[tuple[str, bytes]]) -> np.ndarray:
    """Decode and preprocess `images` into the (N, S, S) float32 array classify_batch takes."""
    from mlcore.imageio import image_decode
    from mlcore.preprocess import radiograph_preprocess

    size = _input_size(screener=screener)
    arrays = []
    for _, data in images:
        decoded = image_decode(data=data)
        arrays.append(radiograph_preprocess(pixels=decoded.pixels, size=size).array)
    return np.stack(arrays).astype(np.float32)


def stages_measure(
    *, screener: Any, images: list[tuple[str, bytes]], warmup: int
) -> dict[str, Any]:
    """Screen every image at batch 1; return per-stage and wall-clock summaries."""
    for name, data in images[:warmup]:
        screener.screen(data=data, filename=name)
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    full, wall, other_keys = [], [], set()
    accepted = rejected = failed = 0
    for name, data in images[warmup:]:
        t0 = time.perf_counter()
        try:
            result = screener.screen(data=data, filename=name)
        except Exception:
            failed += 1
            continue
        wall.append((time.perf_counter() - t0) * 1000.0)
        timings = dict(result.timings_ms or {})
        other_keys.update(set(timings) - set(STAGES))
        for stage in STAGES:
            value = timings.get(stage)
            # A refused image reports 0.0 for the stages it never reached: leave those out.
            if value is not None and (result.accepted or float(value) > 0.0):
                per_stage[stage].append(float(value))
        if result.accepted:
            accepted += 1
            full.append(sum(float(timings.get(s) or 0.0) for s in FULL_STAGES))
        else:
            rejected += 1
    return {
        "stages_ms": {s: percentiles_summarise(values=v) for s, v in per_stage.items()},
        "full_ms": percentiles_summarise(values=full),
        "screen_wall_ms": percentiles_summarise(values=wall),
        "accepted": accepted,
        "rejected_by_gate": rejected,
        "failed": failed,
        "extra_timing_keys": sorted(other_keys),
    }


def batch_throughput_measure(
    *, screener: Any, inputs: np.ndarray, batch: int, repeats: int
) -> dict[str, Any]:
    """Run classify_batch over `inputs` in chunks of `batch`; return images/s and per-call ms."""
    chunks = [inputs[i : i + batch] for i in range(0, len(inputs) - batch + 1, batch)]
    if not chunks:
        chunks = [inputs]
    screener.classify_batch(batch=chunks[0])  # warm-up (traces the batch shape)
    screener.classify_batch(batch=chunks[0])
    calls, images = [], 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for chunk in chunks:
            c0 = time.perf_counter()
            screener.classify_batch(batch=chunk)
            calls.append((time.perf_counter() - c0) * 1000.0)
            images += len(chunk)
    elapsed = time.perf_counter() - t0
    return {
        "batch": batch,
        "images": images,
        "seconds": round(elapsed, 3),
        "images_per_s": images / elapsed if elapsed > 0 else float("nan"),
        "call_ms": percentiles_summarise(values=calls),
    }


def profile_capture(*, screener: Any, images: list[tuple[str, bytes]], top: int = 25) -> str:
    """Return cProfile's top functions (cumulative) over screening `images` once."""
    prof = cProfile.Profile()
    prof.enable()
    for name, data in images:
        try:
            screener.screen(data=data, filename=name)
        except Exception:
            continue
    prof.disable()
    return profile_text(prof=prof, top=top)


def model_path_run(
    *,
    n: int,
    warmup: int,
    batch: int,
    model: str | None,
    data_dir: Path | None,
    profile_n: int,
    compiled_dir: str = "",
) -> dict[str, Any]:
    """Load the Screener as the worker does and measure; return the section's figures."""
    t0 = time.perf_counter()
    from mlcore.pipeline import Screener

    screener = Screener.load(name=model, compiled_dir=compiled_dir or None)
    load_s = time.perf_counter() - t0
    images, source = bench_images_load(n=n + warmup, data_dir=data_dir)
    warm, measured = images[:warmup], images[warmup:]
    stages = stages_measure(screener=screener, images=warm + measured, warmup=len(warm))
    out: dict[str, Any] = {
        "model_name": getattr(getattr(screener, "card", None), "name", None) or model,
        "model_version": getattr(getattr(screener, "card", None), "version", None),
        "model_load_s": round(load_s, 2),
        "images_source": source,
        "n_images": len(measured),
        "warmup": warmup,
        "tf_threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "networks": type(screener.classifier).__name__,
        **stages,
    }
    inputs = batch_inputs_prepare(screener=screener, images=measured)
    out["batch1"] = batch_throughput_measure(
        screener=screener, inputs=inputs[: max(32, batch * 2)], batch=1, repeats=1
    )
    out["batch"] = batch_throughput_measure(
        screener=screener, inputs=inputs, batch=batch, repeats=1
    )
    if profile_n:
        out["profile_top"] = profile_capture(screener=screener, images=measured[:profile_n])
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--model", default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--profile-n", type=int, default=30)
    parser.add_argument("--compiled-dir", default="", help="empty: Keras networks")
    parser.add_argument("--json-out", type=Path, required=True)
    options = vars(parser.parse_args())
    json_out = options.pop("json_out")
    json_write(path=json_out, data=model_path_run(**options))


if __name__ == "__main__":
    main()
