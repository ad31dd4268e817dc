"""Shared helpers for the hardening suite: stored-state snapshots, API clients, the tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.support.services import REPO_ROOT

TINY_MODEL_DIR = REPO_ROOT / "tests" / "fixtures" / "models"
TINY_MODEL_NAME = "tiny"


def media_files() -> set[str]:
    """Every file under this run's MEDIA_ROOT, as paths relative to it."""
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def stored_counts() -> tuple[int, int, int]:
    from screening.models import Image, Prediction, Study

    return Study.objects.count(), Image.objects.count(), Prediction.objects.count()


class NothingStored:
    """Assert that a block leaves no Study/Image/Prediction rows and no new media files."""

    def __enter__(self):
        self.counts, self.files = stored_counts(), media_files()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            assert stored_counts() == self.counts, "rows were stored for a refused submission"
            assert media_files() == self.files, "files were stored for a refused submission"
        return False


@pytest.fixture
def nothing_stored():
    return NothingStored


def api_client_for(user, *, token: bool = True) -> APIClient:
    client = APIClient()
    if token:
        key, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    else:
        client.force_authenticate(user)
    return client


def tiny_model_env() -> dict[str, str]:
    if not (TINY_MODEL_DIR / TINY_MODEL_NAME / "model.keras").is_file():
        pytest.skip("the tiny fixture model is missing")
    return {"CXR_WEIGHTS_DIR": str(TINY_MODEL_DIR), "CXR_MODEL_NAME": TINY_MODEL_NAME}


@pytest.fixture
def tiny_model(settings, monkeypatch) -> dict[str, str]:
    """Point this process (and any worker started with the returned env) at the tiny model."""
    env = tiny_model_env()
    settings.CXR_MODEL_NAME = env["CXR_MODEL_NAME"]
    monkeypatch.setenv("CXR_WEIGHTS_DIR", env["CXR_WEIGHTS_DIR"])
    return env


def broker_is_redis() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith("redis://")


def redis_url() -> str:
    return os.environ.get("CELERY_BROKER_URL", "")


# --------------------------------------------------------------------------- live web server


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    def __init__(self, url: str, process, log_path: Path) -> None:
        self.url, self.process, self.log_path = url, process, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """Start gunicorn (real WSGI, separate processes) on the test database; yield a starter."""
    import subprocess
    import sys
    import time

    import requests

    from tests.support.worker import worker_env

    started: list[WebServer] = []

    def start(*, workers: int = 2, threads: int = 4, **env: str) -> WebServer:
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "portal.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--threads", str(threads), "--timeout", "120", "--log-level", "warning",
            ],
            cwd=REPO_ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        server = WebServer(f"http://127.0.0.1:{port}", process, log_path)
        started.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, server.log()
            try:
                if requests.get(f"{server.url}/accounts/login/", timeout=2).status_code == 200:
                    return server
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not start:\n{server.log()}")

    yield start
    import os
    import signal

    for server in started:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=5)
