"""Section 2, the 2020 demo's approach: a VGG16-sized Keras model, `model.predict` per image.

Each image is decoded and resized to 224x224x3 by PIL and sent through `model.predict` alone,
as the demo's web request did. Random weights (no download; the speed does not depend on
them). Runs in its own process: VGG16 adds about half a gigabyte.
"""

from __future__ import annotations

import argparse
import io
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_images_load, json_write, percentiles_summarise


def baseline_model_build() -> Any:
    """Return VGG16 (random weights, 224x224x3 input, 3 classes)."""
    import keras

    return keras.applications.VGG16(weights=None, input_shape=(224, 224, 3), classes=3)


def baseline_image_predict(*, model: Any, data: bytes) -> tuple[np.ndarray, dict[str, float]]:
    """Decode + resize one image and predict it the demo's way; return probs and timings."""
    from PIL import Image

    t0 = time.perf_counter()
    img = Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224))
    x = np.asarray(img, dtype=np.float32)[None] / 255.0
    t1 = time.perf_counter()
    probs = model.predict(x, verbose=0)
    t2 = time.perf_counter()
    return probs, {"decode_resize": (t1 - t0) * 1000.0, "predict": (t2 - t1) * 1000.0}


def baseline_run(*, n: int, warmup: int, data_dir: Path | None) -> dict[str, Any]:
    """Build the baseline and time it on `n` images after `warmup`; return its figures."""
    t0 = time.perf_counter()
    model = baseline_model_build()
    build_s = time.perf_counter() - t0
    images, source = bench_images_load(n=n + warmup, data_dir=data_dir, seed=1)
    for _, data in images[:warmup]:
        baseline_image_predict(model=model, data=data)
    total, decode, predict = [], [], []
    for _, data in images[warmup:]:
        t = time.perf_counter()
        _, parts = baseline_image_predict(model=model, data=data)
        total.append((time.perf_counter() - t) * 1000.0)
        decode.append(parts["decode_resize"])
        predict.append(parts["predict"])
    return {
        "model": "keras.applications.VGG16(weights=None, input_shape=(224,224,3), classes=3)",
        "params": int(model.count_params()),
        "build_s": round(build_s, 2),
        "images_source": source,
        "n_images": len(total),
        "warmup": warmup,
        "total_ms": percentiles_summarise(values=total),
        "decode_resize_ms": percentiles_summarise(values=decode),
        "predict_ms": percentiles_summarise(values=predict),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, required=True)
    args = parser.parse_args()
    json_write(
        path=args.json_out, data=baseline_run(n=args.n, warmup=args.warmup, data_dir=args.data_dir)
    )


if __name__ == "__main__":
    main()
