"""The bench's API client: token sessions, submitting studies and polling them until final."""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import requests

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
    """Poll the study's status view (304 while unchanged) until final; return (study, polls).

    The full study (results, heatmap links) is read once, when every image is final.
    """
    deadline = time.monotonic() + timeout
    polls, etag = 0, ""
    url = f"{base_url}{API}/studies/{study_id}/status/"
    while True:
        headers = {"If-None-Match": etag} if etag else {}
        resp = session.get(url, headers=headers, timeout=30)
        polls += 1
        if resp.status_code == 200:
            etag = resp.headers.get("ETag", "")
            if resp.json().get("final"):
                break
        elif resp.status_code != 304:
            raise ApiError(f"poll failed: {resp.status_code} {resp.text[:300]}")
        if time.monotonic() > deadline:
            raise ApiError(f"study {study_id} not final after {timeout} s")
        time.sleep(poll_s)
    resp = session.get(f"{base_url}{API}/studies/{study_id}/", timeout=30)
    if resp.status_code != 200:
        raise ApiError(f"study read failed: {resp.status_code} {resp.text[:300]}")
    return resp.json(), polls


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
        roundtrip = partial(
            image_roundtrip, session=session, base_url=stack.base_url, poll_s=poll_s
        )
        while True:
            with lock:
                if not todo:
                    return
                name, data = todo.pop()
            try:
                row = roundtrip(filename=name, data=data)
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
