"""API clients that keep submitting and polling while a fault is injected, and what they saw.

A client sends each study with an Idempotency-Key and, after a 503 (waiting its Retry-After,
at most a few seconds here) or a dropped connection, sends the same study again with the same
key until it is answered, as a well-behaved client does; every answer is tallied.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

API = "/api/v1"
RETRY_WAIT_MAX_S = 3.0


@dataclass
class Tally:
    """What the clients saw: accepted studies, answers by status, times of successes."""

    accepted: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    connection_errors: int = 0
    ok_times: list[float] = field(default_factory=list)
    codes_5xx: Counter = field(default_factory=Counter)
    resent: int = 0  # studies sent again, with their key, after a 503 or a dropped connection
    replayed: int = 0  # answers that returned a study stored by an earlier send
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def http_5xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def first_ok_after(self, *, moment: float) -> float | None:
        with self.lock:
            return next((t for t in self.ok_times if t >= moment), None)

    def seen(self, *, response: requests.Response | None, study: str | None = None) -> None:
        with self.lock:
            if response is None:
                self.connection_errors += 1
                return
            self.statuses[response.status_code] += 1
            if response.status_code >= 500:
                self.codes_5xx[f"{response.status_code} {_code_of(response)}"] += 1
            if study:
                self.accepted.append(study)
                self.ok_times.append(time.monotonic())
                self.replayed += response.headers.get("Idempotent-Replayed") == "true"


def _code_of(response: requests.Response) -> str:
    """The answer's "code" (what the user was told), or "no code" for a bare error page."""
    try:
        return str(response.json().get("code") or "no code")
    except ValueError:
        return "no code"


def token_get(*, base_url: str, username: str, password: str) -> str:
    response = requests.post(
        f"{base_url}{API}/auth/token/", data={"username": username, "password": password},
        timeout=30,
    )  # fmt: skip
    response.raise_for_status()
    return response.json()["token"]


@dataclass
class ApiLoad:
    """`clients` threads, each submitting a one-image study, then polling its status."""

    base_url: str
    token: str
    tag: str
    images: list[bytes]
    clients: int = 2
    pause_s: float = 0.4
    tally: Tally = field(default_factory=Tally)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _client(self, number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        sent = 0
        while not self._stop.is_set():
            data = self.images[(number + sent * self.clients) % len(self.images)]
            sent += 1
            reference = f"{self.tag}-{number}-{sent}-{uuid.uuid4().hex[:6]}"
            study = self._submit(session, data=data, reference=reference, name=f"film-{sent}.png")
            if study:
                poll = self._call(session, "get", f"{self.base_url}{API}/studies/{study}/status/")
                self.tally.seen(response=poll)
            self._stop.wait(self.pause_s)

    def _submit(
        self, session: requests.Session, *, data: bytes, reference: str, name: str
    ) -> str | None:
        """Send one study until it is answered; return its id, or None if refused or stopped."""
        key = uuid.uuid4().hex
        for attempt in range(1_000):
            if self._stop.is_set():
                return None
            if attempt:
                with self.tally.lock:
                    self.tally.resent += 1
            response = self._call(
                session, "post", f"{self.base_url}{API}/studies/",
                files=[("images", (name, data, "image/png"))],
                data={"reference": reference}, headers={"Idempotency-Key": key},
            )  # fmt: skip
            answered = response is not None and response.status_code in (200, 201)
            study = str(response.json()["id"]) if answered else None
            self.tally.seen(response=response, study=study)
            if answered or (response is not None and response.status_code not in (429, 503)):
                return study
            self._wait_after(response)
        return None

    def _call(self, session: requests.Session, method: str, url: str, **kwargs):
        try:
            return session.request(method, url, timeout=60, **kwargs)
        except requests.RequestException:
            session.close()  # a dropped connection: start a new one next time
            return None

    def _wait_after(self, response: requests.Response | None) -> None:
        wait = self.pause_s
        if response is None:
            wait = 0.5
        elif response.status_code in (429, 503):
            wait = min(float(response.headers.get("Retry-After", 1)), RETRY_WAIT_MAX_S)
        self._stop.wait(wait)
