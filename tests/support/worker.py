"""Start a real Celery worker process on the test run's broker, queue and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.support.services import REPO_ROOT


def database_url_for_subprocess() -> str:
    """Return a DATABASE_URL naming the test database this process is using."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CXR_BROKER_DIR": str(settings.CELERY_BROKER_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CXR_TEST_RUN_ID": str(settings.RUN_ID),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


@contextmanager
def worker_running(
    *,
    log_path: Path,
    concurrency: int = 1,
    pool: str = "prefork",
    hold_first_screen_s: float = 0,
    **env: str,
) -> Iterator[subprocess.Popen]:
    """Run `celery worker` until the block ends; its output goes to `log_path`.

    With `hold_first_screen_s`, the first screening waits that long once its prediction is
    running (tests.support.held_worker), so a test can kill the worker mid-prediction.
    """
    entry = "celery"
    if hold_first_screen_s:
        entry = "tests.support.held_worker"
        env["CXR_TEST_HOLD_S"] = str(hold_first_screen_s)
        env["CXR_TEST_HOLD_MARKER"] = str(log_path.with_suffix(".held"))
    command = [
        sys.executable, "-m", entry, "-A", "portal", "worker",
        f"--pool={pool}", f"--concurrency={concurrency}",
        "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
        "--without-gossip", "--without-mingle", "--loglevel=INFO",
        f"--hostname=test-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            worker_stop(process=process)


def worker_stop(*, process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop the worker and its children (warm shutdown, then kill)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def until(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
