"""Section 3, the pipeline through the API only: submit-to-done latency and sustained images/s.

Low load: one client, one image at a time, polling `GET /api/v1/studies/{id}/status/` every
20 ms with If-None-Match (304 while nothing changed), then reading the study once when final.
Sustained: 10 client threads, each a batch uploader (as a PACS or a script would be) keeping up
to `window` images in flight (4 by default; 1 is a closed loop of one image per client): it
submits until `window` studies are in flight, polls the status of each once per round, reads
each final study once and submits the next; images/s = done images / wall time. With one image
in flight per client and a 1 s poll, latency is at least ~1 s, so 10 clients could not exceed
~10 images/s whatever the server did. Sustained clients poll every second by default, as the
product's own study page does (htmx `every 1s`); at 10 clients x 5 polls/s the polling alone
would need more CPU than the 2 cores have (see requests_profile for a poll's cost).
The server-side timestamps (created, enqueued, started, finished) are read from the bench
database to split latency into web, queue, task and polling time.
"""

from __future__ import annotations

import mimetypes
import os
import time
from typing import Any

from bench.api import (
    API,
    ApiError,
    api_sessions_open,
    images_run_concurrently,
    stack_warm,
)
from bench.common import (
    cpu_seconds,
    machine_cpu_seconds,
    percentiles_summarise,
    postmaster_pid,
    process_children,
    profile_text,
)
from bench.stack import Stack


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

    Polls are timed without the profiler: the full study, the status view, and both answered
    304 (If-None-Match with the ETag of the answer before), as a polling client sends them.
    Requests carry a token, as the API's clients send them; the status poll answered 304 is
    also timed with a session (a signed-in browser).

    Server-side cost without the network or gunicorn: what each request costs a web worker.
    Needs Django set up on the bench database; the submitted studies go to the bench queue.
    """
    import cProfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    client, session_client = _clients_make(username="bench-clinician")

    def submit(name: str, data: bytes) -> str:
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload = SimpleUploadedFile(name, data, content_type=mime)
        resp = client.post(f"{API}/studies/", {"images": [upload], "reference": "bench profile"})
        if resp.status_code not in (200, 201, 202):
            raise ApiError(f"in-process submit failed: {resp.status_code}")
        return str(resp.json()["id"])

    submit(*images[0])  # warm
    submit_ms, submit_cpu, ids = [], [], []
    for name, data in images[1:]:  # timed without the profiler, whose overhead is large here
        t0, c0 = time.perf_counter(), time.process_time()
        ids.append(submit(name, data))
        submit_ms.append((time.perf_counter() - t0) * 1000.0)
        submit_cpu.append((time.process_time() - c0) * 1000.0)
    prof = cProfile.Profile()
    for name, data in images[1:]:
        prof.enable()
        submit(name, data)
        prof.disable()
    submit_report = profile_text(prof=prof, top=top, tottime_top=15)
    polls = _polls_time(client=client, study_ids=ids)
    session_polls = _polls_time(client=session_client, study_ids=ids)
    polls["status_poll_304_session_ms"] = session_polls["status_poll_304_ms"]
    prof = cProfile.Profile()
    for study_id in ids * 3:
        prof.enable()
        client.get(f"{API}/studies/{study_id}/")
        prof.disable()
    return {
        "submit_server_ms": percentiles_summarise(values=submit_ms),
        # CPU of this (web) process per one-image submit: Django, checks, thumbnail, storage.
        "submit_cpu_ms": percentiles_summarise(values=submit_cpu),
        **polls,
        "submit_profile": submit_report,
        "poll_profile": profile_text(prof=prof, top=top, tottime_top=15),
    }


def _clients_make(*, username: str) -> tuple[Any, Any]:
    """Return two in-process clients of `username`: one with an API token, one signed in."""
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from portal.accounts.models import User

    user = User.objects.get(username=username)
    token, _ = Token.objects.get_or_create(user=user)
    session_client = Client()
    session_client.force_login(user)
    return Client(headers={"authorization": f"Token {token.key}"}), session_client


def _polls_time(*, client: Any, study_ids: list[str], repeats: int = 5) -> dict[str, Any]:
    """Time each way a client can poll: the full study, the status view, each answered 304."""
    urls = {
        "poll_server_ms": ("{api}/studies/{id}/", False),
        "detail_304_ms": ("{api}/studies/{id}/", True),
        "status_poll_ms": ("{api}/studies/{id}/status/", False),
        "status_poll_304_ms": ("{api}/studies/{id}/status/", True),
    }
    out = {}
    for key, (template, conditional) in urls.items():
        times = []
        for study_id in study_ids * repeats:
            url = template.format(api=API, id=study_id)
            headers = {}
            if conditional:
                headers["HTTP_IF_NONE_MATCH"] = client.get(url).get("ETag", "")
            t0 = time.perf_counter()
            client.get(url, **headers)
            times.append((time.perf_counter() - t0) * 1000.0)
        out[key] = percentiles_summarise(values=times)
    return out


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


def _low_load_run(
    *, stack: Stack, images: list[tuple[str, bytes]], poll_s: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One client, one image at a time; return the figures and the rows."""
    rows, _, errors = images_run_concurrently(stack=stack, images=images, clients=1, poll_s=poll_s)
    return {
        "n": len(rows),
        "poll_s": poll_s,
        "latency_ms": percentiles_summarise(values=[r["latency_ms"] for r in rows]),
        "submit_request_ms": percentiles_summarise(values=[r["submit_ms"] for r in rows]),
        "polls": percentiles_summarise(values=[r["polls"] for r in rows]),
        "statuses": _count(v for r in rows for v in r["statuses"]),
        "errors": errors[:5],
        "n_errors": len(errors),
    }, rows


def _steady_rate(*, done: list[dict[str, Any]]) -> float | None:
    """Done images/s between the 10th and the 90th percentile completion (no ramp)."""
    finals = sorted(r["t_final"] for r in done)
    lo, hi = int(len(finals) * 0.1), int(len(finals) * 0.9) - 1
    return (hi - lo) / (finals[hi] - finals[lo]) if hi > lo and finals[hi] > finals[lo] else None


def sustained_run(
    *, stack: Stack, images: list[tuple[str, bytes]], clients: int, window: int, poll_s: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`clients` threads, up to `window` images in flight each; return the figures and the rows."""
    sessions = api_sessions_open(base_url=stack.base_url, username="bench-clinician", count=clients)
    cpu_before = cpu_snapshot(stack=stack)
    rows, wall, errors = images_run_concurrently(
        stack=stack,
        images=images,
        clients=clients,
        window=window,
        poll_s=poll_s,
        sessions=sessions,
    )
    cpu = cpu_per_image(before=cpu_before, after=cpu_snapshot(stack=stack), images=len(rows))
    done = [r for r in rows if "done" in r["statuses"]]
    return {
        "clients": clients,
        "window": window,
        "poll_s": poll_s,
        "submitted": len(images),
        "final": len(rows),
        "done": len(done),
        "with_heatmap": sum(r["heatmaps"] for r in rows),
        "wall_s": round(wall, 2),
        "images_per_s": len(rows) / wall if wall > 0 else float("nan"),
        "done_images_per_s": len(done) / wall if wall > 0 else float("nan"),
        "steady_done_images_per_s": _steady_rate(done=done),
        "cpu": cpu,
        "latency_ms": percentiles_summarise(values=[r["latency_ms"] for r in rows]),
        "statuses": _count(v for r in rows for v in r["statuses"]),
        "errors": errors[:5],
        "n_errors": len(errors),
    }, rows


def pipeline_run(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    n_latency: int,
    n_throughput: int,
    clients: int,
    poll_s: float,
    throughput_poll_s: float,
    window: int = 1,
    breakdown: bool = True,
) -> dict[str, Any]:
    """Measure low-load latency, then sustained throughput; return the section's figures."""
    warm_s = stack_warm(stack=stack, images=images[:4])
    low, lat_rows = _low_load_run(stack=stack, images=images[4 : 4 + n_latency], poll_s=poll_s)
    sustained, thr_rows = sustained_run(
        stack=stack,
        images=images[4 + n_latency : 4 + n_latency + n_throughput],
        clients=clients,
        window=window,
        poll_s=throughput_poll_s,
    )
    out: dict[str, Any] = {
        "stack": stack.describe(),
        "warmup_s": round(warm_s, 1),
        "low_load": low,
        "sustained": sustained,
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
