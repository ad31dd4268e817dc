"""The faults, one function each: inject it, hold it, end it (return when it has ended)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.pacs import PacsBatch


@dataclass
class FaultContext:
    """What a fault may act on: the stack, Orthanc, the load and the outage length."""

    stack: Any
    orthanc: Any
    pacs_token: str
    load: Any
    outage_s: float
    pacs_down_s: float
    pacs_batch: PacsBatch | None = None
    notes: list[str] = field(default_factory=list)


def postgres_restart(ctx: FaultContext) -> None:
    ctx.stack.postgres.restart()


def postgres_outage(ctx: FaultContext) -> None:
    ctx.stack.postgres.stop()
    time.sleep(ctx.outage_s)
    ctx.stack.postgres.start()


def redis_restart_empty(ctx: FaultContext) -> None:
    ctx.stack.redis.kill()
    time.sleep(1)
    ctx.stack.redis.start()


def media_full(ctx: FaultContext) -> None:
    ctx.stack.media.fill()
    time.sleep(ctx.outage_s)
    ctx.stack.media.free()


def pacs_down(ctx: FaultContext) -> None:
    """Orthanc goes down; studies arrive from it (pushed before) while their results are due."""
    ctx.pacs_batch = PacsBatch.into(orthanc=ctx.orthanc, count=6, first_seed=9000)
    ctx.orthanc.stop()
    started = time.monotonic()
    ctx.pacs_batch.push(base_url=ctx.stack.base_url, token=ctx.pacs_token, tally=ctx.load.tally)
    time.sleep(max(0.0, ctx.pacs_down_s - (time.monotonic() - started)))
    ctx.orthanc.start()


def worker_killed(ctx: FaultContext) -> None:
    """SIGKILL a whole worker host while it runs a prediction and holds prefetched tasks;
    it never comes back. Its unacked messages return after the visibility timeout."""
    stack = ctx.stack
    stack.worker_start(name="doomed", prefetch=4, hold_s=600)
    stack.workers_wait(names=["doomed"])
    marker, deadline = stack.held_marker(name="doomed"), time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # it takes its prefetched messages while the first one waits
    held = stack.log(name="doomed", chars=200_000).count("Task screening.predict_image[")
    stack.kill(name="doomed")
    ctx.notes.append(
        f"the killed worker had received {held} tasks (1 running, the rest prefetched)"
    )


def web_killed_mid_upload(ctx: FaultContext) -> None:
    """SIGKILL one web process while uploads stream through it; a supervisor restarts it."""
    time.sleep(0.3)
    ctx.stack.kill(name="web0")
    time.sleep(2)
    ctx.stack.web_start(index=0)


FAULTS: dict[str, Callable[[FaultContext], None]] = {
    "postgres_restart": postgres_restart,
    "postgres_outage": postgres_outage,
    "redis_restart_empty": redis_restart_empty,
    "media_full": media_full,
    "pacs_down": pacs_down,
    "worker_killed": worker_killed,
    "web_killed_mid_upload": web_killed_mid_upload,
}
