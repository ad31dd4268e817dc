"""Section 5, memory: RSS of the gunicorn workers and Celery worker children over predictions.

Images go through the API in chunks of `every` (default 50); after each chunk every process's
VmRSS and VmHWM are read from /proc. Flat means the children's RSS grew by at most
max(64 MB, 5 %) between the first and the last sample.
"""

from __future__ import annotations

import time
from typing import Any

from bench.api import images_run_concurrently
from bench.common import rss_read
from bench.stack import Stack

GROWTH_ALLOWED_MB = 64.0
GROWTH_ALLOWED_FRACTION = 0.05


def predictions_final_count(*, fallback: int) -> int:
    """Count final predictions in the bench database (every one the worker has finished)."""
    try:
        from screening.models import Prediction

        return Prediction.objects.filter(status__in=Prediction.FINAL_STATUSES).count()
    except Exception:
        return fallback


def rss_sample(*, stack: Stack, predictions: int) -> dict[str, Any]:
    """Read RSS/HWM of the web master, web workers, Celery main and Celery children."""
    predictions = predictions_final_count(fallback=predictions)

    def group(pids: list[int]) -> dict[str, dict[str, float]]:
        return {str(pid): r for pid in pids if (r := rss_read(pid=pid)) is not None}

    return {
        "predictions": predictions,
        "t": time.time(),
        "web_master": rss_read(pid=stack.web.pid),
        "web_workers": group(stack.web_worker_pids()),
        "celery_main": rss_read(pid=stack.worker.pid),
        "celery_children": group(stack.celery_child_pids()),
    }


def _max(group: dict[str, dict[str, float]], key: str) -> float:
    return max((v[key] for v in group.values()), default=float("nan"))


def memory_run(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    every: int,
    clients: int,
    poll_s: float,
    predictions_before: int,
) -> dict[str, Any]:
    """Submit `images` in chunks of `every`, sampling RSS after each chunk."""
    done = predictions_before
    samples = [rss_sample(stack=stack, predictions=done)]
    errors = 0
    for start in range(0, len(images), every):
        chunk = images[start : start + every]
        rows, _, errs = images_run_concurrently(
            stack=stack, images=chunk, clients=clients, poll_s=poll_s
        )
        done += len(rows)
        errors += len(errs)
        samples.append(rss_sample(stack=stack, predictions=done))

    done = samples[-1]["predictions"]
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    child_first = _max(first["celery_children"], "rss_mb")
    child_last = _max(last["celery_children"], "rss_mb")
    growth = child_last - child_first
    allowed = max(GROWTH_ALLOWED_MB, GROWTH_ALLOWED_FRACTION * child_first)
    return {
        "predictions": len(images) - errors,
        "predictions_total": done,
        "errors": errors,
        "every": every,
        "samples": samples,
        "celery_child_rss_mb_first": child_first,
        "celery_child_rss_mb_last": child_last,
        "celery_child_rss_growth_mb": growth,
        "celery_child_hwm_mb": _max(last["celery_children"], "hwm_mb"),
        "celery_main_rss_mb": (last["celery_main"] or {}).get("rss_mb"),
        "web_worker_rss_mb_first": _max(first["web_workers"], "rss_mb"),
        "web_worker_rss_mb_last": _max(last["web_workers"], "rss_mb"),
        "web_worker_hwm_mb": _max(last["web_workers"], "hwm_mb"),
        "flat": bool(growth <= allowed),
        "growth_allowed_mb": allowed,
    }
