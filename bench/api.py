"""The bench's API clients: token sessions, submitting studies, polling those in flight."""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests

from bench.stack import BENCH_PASSWORD, Stack

FINAL = {"done", "failed", "rejected"}
API = "/api/v1"
STUDY_TIMEOUT_S = 120.0  # per study, from its submission to final


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


def api_sessions_open(*, base_url: str, username: str, count: int) -> list[requests.Session]:
    """Return `count` token sessions for `username`, one per API client."""
    return [api_session_open(base_url=base_url, username=username) for _ in range(count)]


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


@dataclass
class StudyInFlight:
    """One submitted study a client waits on: when it was sent, its deadline, its last ETag."""

    study_id: str
    t0: float
    submit_ms: float
    deadline: float
    timeout: float
    etag: str = ""
    polls: int = 0


def study_start(
    *, session: requests.Session, base_url: str, filename: str, data: bytes, timeout: float
) -> StudyInFlight:
    """Submit one image as a new study; return it in flight, due final within `timeout` s."""
    t0 = time.time()
    study_id = study_submit(session=session, base_url=base_url, filename=filename, data=data)
    return StudyInFlight(
        study_id=study_id,
        t0=t0,
        submit_ms=(time.time() - t0) * 1000.0,
        deadline=time.monotonic() + timeout,
        timeout=timeout,
    )


def study_poll(*, session: requests.Session, base_url: str, flight: StudyInFlight) -> bool:
    """Poll the study's status view once (If-None-Match its last ETag); True when final."""
    headers = {"If-None-Match": flight.etag} if flight.etag else {}
    url = f"{base_url}{API}/studies/{flight.study_id}/status/"
    resp = session.get(url, headers=headers, timeout=30)
    flight.polls += 1
    if resp.status_code == 200:
        flight.etag = resp.headers.get("ETag", "")
        if resp.json().get("final"):
            return True
    elif resp.status_code != 304:
        raise ApiError(f"poll failed: {resp.status_code} {resp.text[:300]}")
    if time.monotonic() > flight.deadline:
        raise ApiError(f"study {flight.study_id} not final after {flight.timeout} s")
    return False


def study_finish(
    *, session: requests.Session, base_url: str, flight: StudyInFlight
) -> dict[str, Any]:
    """Read a final study once in full (results, heatmap links); return its row."""
    resp = session.get(f"{base_url}{API}/studies/{flight.study_id}/", timeout=30)
    if resp.status_code != 200:
        raise ApiError(f"study read failed: {resp.status_code} {resp.text[:300]}")
    t_final = time.time()
    return {
        "study_id": flight.study_id,
        "t0": flight.t0,
        "submit_ms": flight.submit_ms,
        "latency_ms": (t_final - flight.t0) * 1000.0,
        "t_final": t_final,
        "polls": flight.polls,
        **study_outcome(payload=resp.json()),
    }


@dataclass
class _Shared:
    """What the client threads share: the to-do list, the rows and the errors, under one lock."""

    todo: list[tuple[str, bytes]]
    on_done: Callable[[dict[str, Any]], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def take(self) -> tuple[str, bytes] | None:
        """Pop the next image to submit, or None when none remain."""
        with self.lock:
            return self.todo.pop() if self.todo else None

    def pending(self) -> bool:
        """True while images remain to be submitted."""
        with self.lock:
            return bool(self.todo)

    def fail(self, *, exc: Exception) -> None:
        """Record one study's error."""
        with self.lock:
            self.errors.append(str(exc)[:300])

    def done(self, *, row: dict[str, Any]) -> None:
        """Record one final study and report it to `on_done`."""
        with self.lock:
            self.rows.append(row)
        if self.on_done is not None:
            self.on_done(row)


def _window_fill(
    *,
    shared: _Shared,
    session: requests.Session,
    base_url: str,
    flights: list[StudyInFlight],
    window: int,
    timeout: float,
) -> None:
    """Submit images until `window` studies are in flight or the to-do list is empty."""
    while len(flights) < window:
        item = shared.take()
        if item is None:
            return
        name, data = item
        try:
            flight = study_start(
                session=session, base_url=base_url, filename=name, data=data, timeout=timeout
            )
        except (ApiError, requests.RequestException) as exc:
            shared.fail(exc=exc)
            continue
        flights.append(flight)


def _round_poll(
    *, shared: _Shared, session: requests.Session, base_url: str, flights: list[StudyInFlight]
) -> int:
    """Poll each study in flight once; record the final ones; return how many left the window."""
    left = 0
    for flight in list(flights):
        try:
            if not study_poll(session=session, base_url=base_url, flight=flight):
                continue
            row = study_finish(session=session, base_url=base_url, flight=flight)
        except (ApiError, requests.RequestException) as exc:
            shared.fail(exc=exc)
        else:
            shared.done(row=row)
        flights.remove(flight)
        left += 1
    return left


def _client_run(
    *,
    shared: _Shared,
    session: requests.Session,
    base_url: str,
    window: int,
    poll_s: float,
    timeout: float,
) -> None:
    """Run one API client with its own token until the to-do list is done and nothing in flight.

    Each round: submit until `window` studies are in flight, poll each of them once, then sleep
    `poll_s` unless a study left the window and images remain to be submitted.
    """
    io = {"shared": shared, "session": session, "base_url": base_url}
    flights: list[StudyInFlight] = []
    while True:
        _window_fill(**io, flights=flights, window=window, timeout=timeout)
        if not flights:
            return
        freed = _round_poll(**io, flights=flights)
        if flights and not (freed and shared.pending()):
            time.sleep(poll_s)


def images_run_concurrently(
    *,
    stack: Stack,
    images: list[tuple[str, bytes]],
    clients: int,
    poll_s: float,
    window: int = 1,
    username: str = "bench-clinician",
    sessions: list[requests.Session] | None = None,
    timeout: float = STUDY_TIMEOUT_S,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], float, list[str]]:
    """Push `images` through `clients` threads, each keeping up to `window` studies in flight.

    Each client signs in (or takes one of `sessions`) before the clock starts: an API client
    keeps its token, so the password hash of a sign-in is no part of an image's cost.
    Return the rows of the final studies, the wall seconds and the errors (one per study lost).
    """
    if sessions is None:
        sessions = api_sessions_open(base_url=stack.base_url, username=username, count=clients)
    shared = _Shared(todo=list(reversed(images)), on_done=on_done)
    client = partial(
        _client_run,
        shared=shared,
        base_url=stack.base_url,
        window=max(window, 1),
        poll_s=poll_s,
        timeout=timeout,
    )
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for f in [pool.submit(client, session=s) for s in sessions[:clients]]:
            f.result()
    return shared.rows, time.monotonic() - t0, shared.errors


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
