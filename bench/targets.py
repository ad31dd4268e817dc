"""The bench's targets and headline figures: one table for the report, the plot and the checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlcore.pipeline import TIMING_KEYS

STAGES = TIMING_KEYS
HISTORY_1M_ROWS = 1_000_000
MEMORY_2000_PREDICTIONS = 2000
# The sustained run's load: API clients, each keeping up to this many images in flight.
SUSTAINED_CLIENTS = 10
SUSTAINED_WINDOW = 4


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float | bool
    kind: str  # "max" (value <= limit), "min" (value >= limit), "true"
    unit: str
    section: str  # the section whose run the figure comes from


TARGETS = (
    Target("classify_ms_p50", "classify p50 (batch 1)", 15.0, "max", "ms", "model"),
    Target(
        "full_ms_p50",
        "full p50 (gate + classify + lung fields + Grad-CAM + overlay)",
        40.0,
        "max",
        "ms",
        "model",
    ),
    Target("speedup_vs_baseline", "speedup vs 2020 baseline (p50)", 10.0, "min", "x", "baseline"),
    Target(
        "pipeline_latency_ms_p50",
        "submit-to-done p50, low load",
        100.0,
        "max",
        "ms",
        "pipeline",
    ),
    Target(
        "pipeline_latency_ms_p95",
        "submit-to-done p95, low load",
        200.0,
        "max",
        "ms",
        "pipeline",
    ),
    Target(
        "pipeline_images_per_s",
        "sustained images/s with heatmaps, {load}",
        20.0,
        "min",
        "img/s",
        "pipeline",
    ),
    Target(
        "submit_cpu_ms_per_image",
        "web CPU per submitted image (in-process, p50)",
        30.0,
        "max",
        "ms",
        "pipeline",
    ),
    Target(
        "status_poll_ms_p50",
        "status poll of a study in progress p50 (304)",
        5.0,
        "max",
        "ms",
        "pipeline",
    ),
    Target(
        "history_ms_p95_100k",
        "case history page p95 at 100k predictions",
        100.0,
        "max",
        "ms",
        "history",
    ),
    Target(
        "history_api_ms_p95_100k",
        "API study list p95 at 100k predictions",
        100.0,
        "max",
        "ms",
        "history",
    ),
    Target(
        "history_ms_p95_1m",
        "case history page and API list p95 at 1M predictions",
        100.0,
        "max",
        "ms",
        "history",
    ),
    Target("worker_rss_mb", "Celery worker child peak RSS", 1536.0, "max", "MB", "memory"),
    Target(
        "worker_rss_mb_2000",
        "Celery worker child peak RSS after 2,000 predictions",
        1024.0,
        "max",
        "MB",
        "memory",
    ),
    Target("worker_rss_flat", "worker RSS flat over predictions", True, "true", "", "memory"),
)


def sustained_load_text(*, sustained: dict[str, Any] | None) -> str:
    """Describe the sustained run's load: clients and images in flight each.

    Without figures, the bench's default load; figures without `window` predate it (1 each).
    """
    if sustained:
        clients, window = sustained.get("clients", SUSTAINED_CLIENTS), sustained.get("window", 1)
    else:
        clients, window = SUSTAINED_CLIENTS, SUSTAINED_WINDOW
    each = "1 image in flight each" if window == 1 else f"up to {window} images in flight each"
    return f"{clients} clients, {each}"


def target_label(*, target: Target, sections: dict[str, Any]) -> str:
    """Return the target's label, with the sustained load as the figures of `sections` ran it."""
    if "{load}" not in target.label:
        return target.label
    sustained = value_get(sections, "pipeline", "sustained")
    return target.label.format(load=sustained_load_text(sustained=sustained))


def target_limit(*, key: str) -> float:
    """Return the limit of the target named `key`."""
    return float(next(t.limit for t in TARGETS if t.key == key))


def value_get(data: dict[str, Any] | None, *path: str) -> Any:
    """Return data[path[0]][path[1]]..., or None where any step is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def number_or_none(value: Any) -> float | None:
    """Return `value` as a float, or None for booleans, None, NaN and non-numbers."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def sections_same_run(*, a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Return True when two sections come from one bench invocation (or both predate run ids)."""
    return bool(a) and bool(b) and a.get("run_id") == b.get("run_id")


def summary_compute(*, sections: dict[str, Any]) -> dict[str, Any]:
    """Return the headline keys of results.json from whatever sections have run."""
    get, num = value_get, number_or_none
    model, base = sections.get("model"), sections.get("baseline")
    pipe, hist, mem = sections.get("pipeline"), sections.get("history"), sections.get("memory")
    full = num(get(model, "full_ms", "p50"))
    rows = num(get(hist, "seeded", "predictions_in_db")) or 0
    at_1m = rows >= HISTORY_1M_ROWS
    worst = [num(get(hist, key)) for key in ("web_ms_p95_worst", "api_ms_p95_worst")]
    worst = [w for w in worst if w is not None]
    rss_2000 = (num(get(mem, "predictions_total")) or 0) >= MEMORY_2000_PREDICTIONS
    baseline = num(get(base, "total_ms", "p50"))
    return {
        "classify_ms_p50": num(get(model, "stages_ms", "classify", "p50")),
        "classify_ms_p95": num(get(model, "stages_ms", "classify", "p95")),
        "full_ms_p50": full,
        "full_ms_p95": num(get(model, "full_ms", "p95")),
        "classify_batch16_images_per_s": num(get(model, "batch", "images_per_s")),
        "model_name": get(model, "model_name"),
        "baseline_ms_p50": baseline,
        # A ratio of two sections timed in different runs mixes two machine states.
        "speedup_vs_baseline": (
            (baseline / full) if baseline and full and sections_same_run(a=model, b=base) else None
        ),
        "pipeline_latency_ms_p50": num(get(pipe, "low_load", "latency_ms", "p50")),
        "pipeline_latency_ms_p95": num(get(pipe, "low_load", "latency_ms", "p95")),
        "pipeline_images_per_s": num(get(pipe, "sustained", "done_images_per_s")),
        "submit_cpu_ms_per_image": num(get(pipe, "in_process", "submit_cpu_ms", "p50")),
        "status_poll_ms_p50": num(get(pipe, "in_process", "status_poll_304_ms", "p50")),
        # The 100k keys come from runs seeding fewer than a million rows, the 1m key from the rest.
        "history_ms_p95_100k": None if at_1m else num(get(hist, "web_ms_p95_worst")),
        "history_api_ms_p95_100k": None if at_1m else num(get(hist, "api_ms_p95_worst")),
        "history_ms_p95_1m": max(worst) if at_1m and worst else None,
        "history_rows": get(hist, "seeded", "predictions_in_db"),
        "worker_rss_mb": num(get(mem, "celery_child_hwm_mb")),
        "worker_rss_flat": get(mem, "flat"),
        "worker_rss_mb_2000": num(get(mem, "celery_child_hwm_mb")) if rss_2000 else None,
        "worker_rss_growth_mb": num(get(mem, "celery_child_rss_growth_mb")),
        "web_rss_mb": num(get(mem, "web_worker_hwm_mb")),
        "memory_predictions": get(mem, "predictions_total"),
    }


def target_check(*, target: Target, value: Any) -> str:
    """Return "pass", "MISS" or "not run" for one figure."""
    if value is None:
        return "not run"
    if target.kind == "true":
        return "pass" if value is True else "MISS"
    v = number_or_none(value)
    if v is None:
        return "not run"
    ok = v <= target.limit if target.kind == "max" else v >= target.limit
    return "pass" if ok else "MISS"
