"""Section 3, the pipeline through the API only: submit-to-done latency and sustained images/s.

Low load: one client, one image at a time, polling `GET /api/v1/studies/{id}/` every 20 ms.
Sustained: 10 client threads each submitting one image, polling until it is final, then the
next; images/s = done images / wall time. Sustained clients poll every second by default, as
the product's own study page does (htmx `every 1s`); at 10 clients x 5 polls/s the polling
alone would need more CPU than the 2 cores have (see requests_profile for a poll's cost).
The server-side timestamps (created, enqueued, started, finished) are read from the bench
database to split latency into web, queue, task and polling time.
"""

from __future__ import annotations

import mimetypes
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.common import (
    cpu_seconds,
    machine_cpu_seconds,
    percentiles_summarise,
    postmaster_pid,
    process_children,
)
from bench.stack import BENCH_PASSWORD, Stack

FINAL = {"done", "failed", "rejected"}
API = "/api/v1"


class ApiError(RuntimeError):
    pass


def api_session_open(*, base_url: str, username: str) -> requests.Session:
    """Return a requests session authenticated with a DRF token for `username`."""
    session = requests.Session()
    resp = session.post(
        f"{base_url}{API}/auth/token/",
        data={"username": username, "password": BENCH_PASSWORD},
        timeout=30,
    )
    if resp.status_code != 200:
        raise ApiError(f"token request failed: {resp.status_code} {resp.text[:300]}")
    token = resp.json().get("token")
    session.headers["Authorization"] = f"Token {token}"
    return session


def study_submit(*, session: requests.Session, base_url: str, filename: str, data: bytes) -> str:
    """POST one image as a new study; return the study id."""
    mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    resp = session.post(
        f"{base_url}{API}/studies/",
        files=[("images", (filename, data, mime))],
        data={"reference": f"bench {filename}"},
        timeout=60,
    )
    if resp.status_code not in (200, 201, 202):
        raise ApiError(f"submit failed: {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["id"])


def _predictions_find(payload: Any) -> list[dict[str, Any]]:
    """Return the prediction-like dicts (with a status) under a study payload's images."""
    found = []
    for image in payload.get("images") or []:
        if not isinstance(image, dict):
            continue
        candidates = []
        for key in ("prediction", "current_prediction", "latest_prediction"):
            if isinstance(image.get(key), dict):
                candidates.append(image[key])
        preds = image.get("predictions")
        if isinstance(preds, list):
            current = [p for p in preds if isinstance(p, dict) and p.get("is_current", True)]
            candidates.extend(current[:1])
        if not candidates and "status" in image:
            candidates.append(image)
        found.extend(c for c in candidates if "status" in c)
    return found


def study_is_final(*, payload: dict[str, Any]) -> bool:
    """True when every image of the study has a final prediction (done, failed, rejected)."""
    preds = _predictions_find(payload)
    if preds:
        return all(p.get("status") in FINAL for p in preds)
    return payload.get("status") == "done"


def study_outcome(*, payload: dict[str, Any]) -> dict[str, Any]:
    """Summarise a final study: statuses, labels and whether each has a heatmap."""
    preds = _predictions_find(payload)
    return {
        "statuses": [p.get("status") for p in preds],
        "labels": [p.get("label") for p in preds],
        "heatmaps": sum(
            1 for p in preds if p.get("heatmap") or p.get("heatmap_url") or p.get("has_heatmap")
        ),
    }


def study_wait(
    *,
    session: requests.Session,
    base_url: str,
    study_id: str,
    poll_s: float,
    timeout: float = 120.0,
) -> tuple[dict[str, Any], int]:
    """Poll the study until final; return (payload, polls)."""
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        resp = session.get(f"{base_url}{API}/studies/{study_id}/", timeout=30)
        polls += 1
        if resp.status_code != 200:
            raise ApiError(f"poll failed: {resp.status_code} {resp.text[:300]}")
        payload = resp.json()
        if study_is_final(payload=payload):
            return payload, polls
        if time.monotonic() > deadline:
            raise ApiError(f"study {study_id} not final after {timeout} s: {payload}")
        time.sleep(poll_s)


def image_roundtrip(
    *, session: requests.Session, base_url: str, filename: str, data: bytes, poll_s: float
) -> dict[str, Any]:
    """Submit one image and wait for it; return id, latency and outcome."""
    t0 = time.time()
    study_id = study_submit(session=session, base_url=base_url, filename=filename, data=data)
    t_submitted = time.time()
    payload, polls = study_wait(
        session=session, base_url=base_url, study_id=study_id, poll_s=poll_s
    )
    t_final = time.time()
    return {
        "study_id": study_id,
        "t0": t0,
        "submit_ms": (t_submitted - t0) * 1000.0,
        "latency_ms": (t_final - t0) * 1000.0,
        "t_final": t_final,
        "polls": polls,
        **study_outcome(payload=payload),
    }


def images_run_concurrently(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    clients: int,
    poll_s: float,
    username: str = "bench-clinician",
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], float, list[str]]:
    """Push `images` through `clients` threads (one image in flight each); return rows, wall s."""
    todo = list(reversed(images))
    lock = threading.Lock()
    rows: list[dict[str, Any]] = []
    errors: list[str] = []

    def client() -> None:
        session = api_session_open(base_url=stack.base_url, username=username)
        while True:
            with lock:
                if not todo:
                    return
                name, data = todo.pop()
            try:
                row = image_roundtrip(
                    session=session,
                    base_url=stack.base_url,
                    filename=name,
                    data=data,
                    poll_s=poll_s,
                )
            except (ApiError, requests.RequestException) as exc:
                with lock:
                    errors.append(str(exc)[:300])
                continue
            with lock:
                rows.append(row)
            if on_done is not None:
                on_done(row)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    return rows, time.monotonic() - t0, errors


def stack_warm(*, stack: Stack, images: list[tuple[str, bytes]]) -> float:
    """Send warm-up images (2 at a time, so both worker children load the model); return s."""
    t0 = time.monotonic()
    rows, _, errors = images_run_concurrently(
        stack=stack, images=images, clients=stack.config.worker_concurrency, poll_s=0.1
    )
    stack.alive_check()
    if not rows:
        raise ApiError(f"no warm-up image came back: {errors[:2]}")
    return time.monotonic() - t0


def server_breakdown(*, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Split each image's latency using the Prediction timestamps in the bench database.

    web = submit request -> prediction created; queue = created -> started (broker + worker
    pick-up); task = started -> finished; poll = finished -> the client saw it final.
    Needs Django set up on the bench database (bench.history.django_setup).
    """
    from screening.models import Prediction

    by_study = {r["study_id"]: r for r in rows}
    preds = Prediction.objects.filter(image__study_id__in=list(by_study), is_current=True).values(
        "image__study_id", "created", "enqueued", "started", "finished", "timings_ms"
    )
    parts: dict[str, list[float]] = {
        "web_ms": [],
        "enqueue_ms": [],
        "queue_ms": [],
        "task_ms": [],
        "poll_lag_ms": [],
    }
    stage_sums: dict[str, list[float]] = {}
    for p in preds:
        row = by_study.get(str(p["image__study_id"]))
        if row is None or not p["started"] or not p["finished"]:
            continue
        created, started, finished = (
            p["created"].timestamp(),
            p["started"].timestamp(),
            p["finished"].timestamp(),
        )
        parts["web_ms"].append((created - row["t0"]) * 1000.0)
        if p["enqueued"]:
            parts["enqueue_ms"].append((p["enqueued"].timestamp() - created) * 1000.0)
        parts["queue_ms"].append((started - created) * 1000.0)
        parts["task_ms"].append((finished - started) * 1000.0)
        parts["poll_lag_ms"].append((row["t_final"] - finished) * 1000.0)
        for stage, ms in (p["timings_ms"] or {}).items():
            if isinstance(ms, int | float):
                stage_sums.setdefault(stage, []).append(float(ms))
    out = {k: percentiles_summarise(values=v) for k, v in parts.items()}
    out["task_stages_ms"] = {k: percentiles_summarise(values=v) for k, v in stage_sums.items()}
    return out


def requests_profile(*, images: list[tuple[str, bytes]], top: int = 25) -> dict[str, Any]:
    """Time and cProfile the submit and poll requests in-process (Django test Client).

    Server-side cost without the network or gunicorn: what each request costs a web worker.
    Needs Django set up on the bench database; the submitted studies go to the bench queue.
    """
    import cProfile
    import io
    import pstats

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from portal.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench-clinician"))

    def submit(name: str, data: bytes) -> str:
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload = SimpleUploadedFile(name, data, content_type=mime)
        resp = client.post(f"{API}/studies/", {"images": [upload], "reference": "bench profile"})
        if resp.status_code not in (200, 201, 202):
            raise ApiError(f"in-process submit failed: {resp.status_code}")
        return str(resp.json()["id"])

    def report(prof: cProfile.Profile) -> str:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).strip_dirs()
        stats.sort_stats("tottime").print_stats(15)
        stats.sort_stats("cumulative").print_stats(top)
        return buf.getvalue()

    submit(*images[0])  # warm
    submit_ms, poll_ms, ids = [], [], []
    prof = cProfile.Profile()
    for name, data in images[1:]:
        t0 = time.perf_counter()
        prof.enable()
        ids.append(submit(name, data))
        prof.disable()
        submit_ms.append((time.perf_counter() - t0) * 1000.0)
    submit_report = report(prof)
    prof = cProfile.Profile()
    for study_id in ids * 3:
        t0 = time.perf_counter()
        prof.enable()
        client.get(f"{API}/studies/{study_id}/")
        prof.disable()
        poll_ms.append((time.perf_counter() - t0) * 1000.0)
    return {
        "submit_server_ms": percentiles_summarise(values=submit_ms),
        "poll_server_ms": percentiles_summarise(values=poll_ms),
        "submit_profile": submit_report,
        "poll_profile": report(prof),
    }


def cpu_snapshot(*, stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each tier: gunicorn, Celery, PostgreSQL (all databases), bench client.

    Masters count their reaped children (cutime) so exited workers and one-request PostgreSQL
    backends (CONN_MAX_AGE=0) are included.
    """
    web = cpu_seconds(pid=stack.web.pid, children=True) + sum(
        cpu_seconds(pid=p) for p in stack.web_worker_pids()
    )
    worker = cpu_seconds(pid=stack.worker.pid, children=True) + sum(
        cpu_seconds(pid=p) for p in stack.celery_child_pids()
    )
    pg = postmaster_pid()
    postgres = 0.0
    if pg is not None:
        postgres = cpu_seconds(pid=pg, children=True) + sum(
            cpu_seconds(pid=p) for p in process_children(pid=pg)
        )
    busy, total = machine_cpu_seconds()
    return {
        "web": web,
        "worker": worker,
        "postgres_all_databases": postgres,
        "bench_client": cpu_seconds(pid=os.getpid()),
        "machine_busy": busy,
        "machine_total": total,
    }


def cpu_per_image(*, before: dict[str, float], after: dict[str, float], images: int) -> dict:
    """CPU milliseconds per image for each tier between two snapshots, and the machine's load."""
    out = {
        f"{k}_cpu_ms_per_image": (after[k] - before[k]) * 1000.0 / max(images, 1)
        for k in ("web", "worker", "postgres_all_databases", "bench_client")
    }
    span = after["machine_total"] - before["machine_total"]
    out["machine_busy_fraction"] = (
        (after["machine_busy"] - before["machine_busy"]) / span if span else None
    )
    ours = sum(after[k] - before[k] for k in ("web", "worker", "bench_client"))
    out["stack_share_of_busy_cpu"] = ours / max(
        after["machine_busy"] - before["machine_busy"], 1e-9
    )
    tiers = ("web", "worker", "postgres_all_databases", "bench_client")
    per_image = sum(out[f"{k}_cpu_ms_per_image"] for k in tiers)
    # What the stack could sustain with the machine's cores to itself (PostgreSQL counted whole,
    # so this is a conservative ceiling).
    cores = len(os.sched_getaffinity(0))
    out["cpu_ceiling_images_per_s"] = cores * 1000.0 / per_image if per_image > 0 else None
    return out


def pipeline_run(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    n_latency: int,
    n_throughput: int,
    clients: int,
    poll_s: float,
    throughput_poll_s: float,
    breakdown: bool = True,
) -> dict[str, Any]:
    """Measure low-load latency, then sustained throughput; return the section's figures."""
    warm_s = stack_warm(stack=stack, images=images[:4])
    lat_images = images[4 : 4 + n_latency]
    thr_images = images[4 + n_latency : 4 + n_latency + n_throughput]

    session = api_session_open(base_url=stack.base_url, username="bench-clinician")
    lat_rows, lat_errors = [], []
    for name, data in lat_images:
        try:
            lat_rows.append(
                image_roundtrip(
                    session=session,
                    base_url=stack.base_url,
                    filename=name,
                    data=data,
                    poll_s=poll_s,
                )
            )
        except (ApiError, requests.RequestException) as exc:
            lat_errors.append(str(exc)[:300])

    cpu_before = cpu_snapshot(stack=stack)
    thr_rows, wall, thr_errors = images_run_concurrently(
        stack=stack, images=thr_images, clients=clients, poll_s=throughput_poll_s
    )
    cpu = cpu_per_image(before=cpu_before, after=cpu_snapshot(stack=stack), images=len(thr_rows))
    done = [r for r in thr_rows if "done" in r["statuses"]]
    # Steady state: done images between the 10th and the 90th percentile completion (no ramp).
    finals = sorted(r["t_final"] for r in done)
    lo, hi = int(len(finals) * 0.1), int(len(finals) * 0.9) - 1
    steady = (hi - lo) / (finals[hi] - finals[lo]) if hi > lo and finals[hi] > finals[lo] else None
    with_heatmap = sum(r["heatmaps"] for r in thr_rows)
    out: dict[str, Any] = {
        "stack": stack.describe(),
        "warmup_s": round(warm_s, 1),
        "low_load": {
            "n": len(lat_rows),
            "poll_s": poll_s,
            "latency_ms": percentiles_summarise(values=[r["latency_ms"] for r in lat_rows]),
            "submit_request_ms": percentiles_summarise(values=[r["submit_ms"] for r in lat_rows]),
            "polls": percentiles_summarise(values=[r["polls"] for r in lat_rows]),
            "statuses": _count(v for r in lat_rows for v in r["statuses"]),
            "errors": lat_errors[:5],
            "n_errors": len(lat_errors),
        },
        "sustained": {
            "clients": clients,
            "poll_s": throughput_poll_s,
            "submitted": len(thr_images),
            "final": len(thr_rows),
            "done": len(done),
            "with_heatmap": with_heatmap,
            "wall_s": round(wall, 2),
            "images_per_s": len(thr_rows) / wall if wall > 0 else float("nan"),
            "done_images_per_s": len(done) / wall if wall > 0 else float("nan"),
            "steady_done_images_per_s": steady,
            "cpu": cpu,
            "latency_ms": percentiles_summarise(values=[r["latency_ms"] for r in thr_rows]),
            "statuses": _count(v for r in thr_rows for v in r["statuses"]),
            "errors": thr_errors[:5],
            "n_errors": len(thr_errors),
        },
    }
    if breakdown:
        try:
            out["in_process"] = requests_profile(images=images[:6])
        except Exception as exc:
            out["in_process_error"] = repr(exc)[:300]
        try:
            out["low_load"]["breakdown"] = server_breakdown(rows=lat_rows)
            out["sustained"]["breakdown"] = server_breakdown(rows=thr_rows)
        except Exception as exc:
            out["breakdown_error"] = repr(exc)[:300]
    return out


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts
