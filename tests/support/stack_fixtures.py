"""Fixtures for tests that run the real stack: nothing-stored checks, the tiny model, gunicorn."""

from __future__ import annotations

import pytest

from tests.support.services import REPO_ROOT
from tests.support.stack import WebServer, free_port, tiny_model_env
from tests.support.stored import NothingStored


@pytest.fixture
def nothing_stored():
    return NothingStored


@pytest.fixture
def tiny_model(settings, monkeypatch) -> dict[str, str]:
    """Point this process (and any worker started with the returned env) at the tiny model."""
    env = tiny_model_env()
    settings.CXR_MODEL_NAME = env["CXR_MODEL_NAME"]
    monkeypatch.setenv("CXR_WEIGHTS_DIR", env["CXR_WEIGHTS_DIR"])
    return env


# --------------------------------------------------------------------------- live web server


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """Start gunicorn (real WSGI, separate processes) on the test database; yield a starter."""
    import subprocess
    import sys
    import time

    import requests

    from tests.support.worker import worker_env

    started: list[WebServer] = []

    def start(*, workers: int = 2, threads: int = 4, demo: bool = False, **env: str) -> WebServer:
        """Start gunicorn; with `demo`, exactly as `make demo` does (scripts/demo-web.sh)."""
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        log = log_path.open("wb")
        command = [
            sys.executable, "-m", "gunicorn", "portal.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads), "--timeout", "120", "--log-level", "warning",
        ]  # fmt: skip
        if demo:
            command = ["bash", str(REPO_ROOT / "scripts" / "demo-web.sh")]
            env = {
                **env,
                "CXR_DEMO_ADDR": f"127.0.0.1:{port}",
                "CXR_DEMO_WEB_WORKERS": str(workers),
                "CXR_DEMO_WEB_THREADS": str(threads),
            }
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT,
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
