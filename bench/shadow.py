"""Section "shadow": what screening every image a second time, with a candidate in shadow,
costs the worker.

The same sustained load as the pipeline section runs twice on one stack: without a candidate,
then with one registered by `manage.py model_candidate --set` (the workers follow within
CXR_DEPLOYMENT_CACHE_S, no restart). The candidate is the model in force under a second
registry name (a weights root of links made for the run), so the figure is the cost of the
shadow path itself, with a network the size of the one in force.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.api import stack_warm
from bench.pipeline import sustained_run
from bench.stack import Stack, manage_run

SHADOW_SUFFIX = "-shadow"


def shadow_weights_prepare(*, model: str, weights_dir: str | Path | None, root: Path) -> Path:
    """Make `root` a weights root holding `model` under its own name and as its shadow twin."""
    from mlcore.registry import model_dir_resolve

    source = model_dir_resolve(name=model, weights_dir=weights_dir)
    root.mkdir(parents=True, exist_ok=True)
    for name in (model, model + SHADOW_SUFFIX):
        (root / name).symlink_to(source.resolve(), target_is_directory=True)
    return root


def shadow_stack_prepare(*, model: str | None, weights_dir: str | None, tmp: Path) -> str:
    """Point the stack (CXR_WEIGHTS_DIR) at a weights root under `tmp`, removed with it, that
    also holds the model's shadow twin; return the model's name."""
    from mlcore.registry import DEFAULT_MODEL_NAME

    model = model or DEFAULT_MODEL_NAME
    root = shadow_weights_prepare(model=model, weights_dir=weights_dir, root=tmp / "weights")
    os.environ["CXR_WEIGHTS_DIR"] = str(root)
    return model


def _figures(*, run: dict[str, Any]) -> dict[str, Any]:
    keep = ("final", "done", "wall_s", "images_per_s", "steady_done_images_per_s", "latency_ms")
    cpu = run.get("cpu") or {}
    return {
        **{k: run.get(k) for k in keep},
        "worker_cpu_ms_per_image": cpu.get("worker_cpu_ms_per_image"),
        "n_errors": run.get("n_errors"),
    }


def shadow_run(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    model: str,
    n: int,
    clients: int,
    window: int,
    poll_s: float,
) -> dict[str, Any]:
    """Sustained images/s without and with a candidate in shadow; return the section."""
    from django.conf import settings

    from screening.models import ShadowPrediction

    candidate = model + SHADOW_SUFFIX
    load = {"clients": clients, "window": window, "poll_s": poll_s}
    stack_warm(stack=stack, images=images[:4])
    without, _ = sustained_run(stack=stack, images=images[4 : 4 + n], **load)
    manage_run(config=stack.config, args=["model_candidate", "--set", candidate])
    try:
        time.sleep(float(settings.CXR_DEPLOYMENT_CACHE_S) + 0.5)  # every worker has seen it
        stack_warm(stack=stack, images=images[4 + n : 8 + n])  # each child loads the candidate
        shadowed_before = ShadowPrediction.objects.count()
        with_, _ = sustained_run(stack=stack, images=images[8 + n : 8 + 2 * n], **load)
        shadowed = ShadowPrediction.objects.count() - shadowed_before
    finally:
        manage_run(config=stack.config, args=["model_candidate", "--clear"])
    rate_without, rate_with = without["images_per_s"], with_["images_per_s"]
    return {
        "model": model,
        "candidate": candidate,
        "clients": clients,
        "window": window,
        "without_candidate": _figures(run=without),
        "with_candidate": _figures(run=with_),
        "shadow_rows": shadowed,
        "throughput_ratio": rate_with / rate_without if rate_without else None,
    }


def shadow_render(*, shadow: dict[str, Any]) -> list[str]:
    """Return the section's lines for RESULTS.md."""
    rows = (("no candidate", shadow["without_candidate"]), ("candidate", shadow["with_candidate"]))
    lines = ["", "## Shadow mode: the worker's throughput with a candidate", "",
             "| | images | images/s | worker CPU ms/image | p50 latency ms |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for label, row in rows:
        p50 = (row.get("latency_ms") or {}).get("p50")
        cpu = row.get("worker_cpu_ms_per_image")
        lines.append(
            f"| {label} | {row['final']} | {row['images_per_s']:.2f} | "
            f"{cpu if cpu is None else round(cpu, 1)} | {p50 if p50 is None else round(p50)} |"
        )
    ratio = shadow.get("throughput_ratio")
    lines += [
        "",
        f"{shadow['candidate']} (the model in force under a second name) screened "
        f"{shadow['shadow_rows']} images in shadow; throughput with it is "
        f"{'-' if ratio is None else f'{ratio:.2f}'} of throughput without "
        f"({shadow['clients']} clients, {shadow['window']} in flight each).",
    ]
    return lines
