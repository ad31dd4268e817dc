"""`python -m chaos.scale`: images/s for 1, 2 and 3 worker processes on the stack's shape.

The same stack as the fault suite (its own PostgreSQL and Redis, two web processes behind
one address, media on a local folder) with the shipped model; workers are added one at a
time, each with its own working directory. Each step measures two rates:

- pipeline: a batch submitted through the API from 4 clients, from the first submission to
  the last image final (web, database and workers share the cores);
- workers: the workers stop consuming (Celery remote control), a batch is queued, they
  start again, and the time until the last image is final gives the workers' own rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from chaos import ledger
from chaos.load import API, token_get
from chaos.services import owned_services_start, temp_root
from chaos.stack import CLINICIAN, PASSWORD, QUEUE, ChaosStack, StackShape

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "scale.json"


class LocalMedia:
    """Media on a plain folder (the scale run needs no full-disk fault)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)


def batch_submit(
    *, base_url: str, token: str, tag: str, images: list[tuple[str, bytes]], clients: int = 4
) -> list[str]:
    """Submit every image as a one-image study from `clients` threads; return the ids."""
    ids: list[str] = []
    lock, queue = threading.Lock(), list(enumerate(images))

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        while True:
            with lock:
                if not queue:
                    return
                number, (name, data) = queue.pop()
            upload = ("images", (name, data, "application/octet-stream"))
            response = session.post(
                f"{base_url}{API}/studies/", files=[upload], data={"reference": f"{tag}-{number}"},
                timeout=120,
            )  # fmt: skip
            response.raise_for_status()
            with lock:
                ids.append(response.json()["id"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def _until_final(*, stack: ChaosStack, tag: str) -> None:
    while ledger.pending_count(database_url=stack.database_url, tag=tag) > 0:
        time.sleep(0.1)


def _consuming(*, stack: ChaosStack, on: bool) -> None:
    command = "add_consumer" if on else "cancel_consumer"
    stack.manage_celery("control", command, QUEUE)


def step_measure(
    *, stack: ChaosStack, token: str, workers: int, images: list[tuple[str, bytes]]
) -> dict:
    tag = f"scale-{workers}w-{int(time.time())}"
    batch_submit(base_url=stack.base_url, token=token, tag=f"warm-{tag}", images=images[:6])
    _until_final(stack=stack, tag=f"warm-{tag}")
    started = time.monotonic()
    ids = batch_submit(base_url=stack.base_url, token=token, tag=tag, images=images)
    submitted_s = time.monotonic() - started
    _until_final(stack=stack, tag=tag)
    elapsed = time.monotonic() - started
    _consuming(stack=stack, on=False)
    queued = batch_submit(base_url=stack.base_url, token=token, tag=f"q-{tag}", images=images)
    _consuming(stack=stack, on=True)
    drain_started = time.monotonic()
    _until_final(stack=stack, tag=f"q-{tag}")
    drain_s = time.monotonic() - drain_started
    counts = [
        ledger.images_ledger(database_url=stack.database_url, tag=t, accepted=i)
        for t, i in ((tag, ids), (f"q-{tag}", queued))
    ]
    return {
        "workers": workers,
        "images": len(images),
        "pipeline_images_per_s": round(len(images) / elapsed, 2),
        "pipeline_submit_s": round(submitted_s, 2),
        "pipeline_s": round(elapsed, 2),
        "workers_images_per_s": round(len(images) / drain_s, 2),
        "workers_s": round(drain_s, 2),
        "outcomes": ledger.status_counts(database_url=stack.database_url, tag=tag),
        "final": sum(c.final for c in counts),
        "duplicated": sum(c.duplicated for c in counts),
        "lost": sum(c.lost for c in counts),
    }


def scale_run(*, counts: list[int], images_n: int, model: str | None) -> tuple[list[dict], str]:
    from bench.common import bench_images_load

    images, source = bench_images_load(n=images_n)
    root = temp_root()
    steps = []
    with ExitStack() as cleanup:
        postgres, redis = owned_services_start(cleanup=cleanup, root=root)
        shape = StackShape(webs=2, workers=0, model=model)
        stack = ChaosStack(root=root, shape=shape, postgres=postgres, redis=redis,
                           media=LocalMedia(root / "media"))  # fmt: skip
        cleanup.callback(stack.close)
        stack.start()
        token = token_get(base_url=stack.base_url, username=CLINICIAN, password=PASSWORD)
        running = 0
        for count in counts:
            while running < count:
                stack.worker_start(name=f"worker{running}")
                stack.workers_wait(names=[f"worker{running}"])
                running += 1
            step = step_measure(stack=stack, token=token, workers=count, images=images)
            print(f"scale: {step}", flush=True)
            steps.append(step)
    return steps, source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    steps, source = scale_run(counts=counts, images_n=args.images, model=args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"images": source, "cores": os.cpu_count(), "steps": steps}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(s["lost"] == 0 and s["duplicated"] == 0 for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
