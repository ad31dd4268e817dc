"""Start and stop the real stack: a fresh PostgreSQL database, gunicorn and one Celery worker.

Everything runs in its own process group and is stopped in `finally`; the database is dropped
and the bench queue's Redis keys are deleted at the end. The queue is `bench-<pid>`, so the
worker never takes anyone else's tasks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from bench.common import REPO_ROOT, process_children

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
BENCH_DB = "cxrscreen_bench"
BENCH_PASSWORD = "bench-Pa55word-not-secret"  # only ever in the throwaway bench database
USERS = {"bench-clinician": "clinician", "bench-reviewer": "reviewer"}


@dataclass
class StackConfig:
    """Where the stack lives; `env()` is what every process of it gets."""

    # One database per bench process, like the queue: two runs at once never share one.
    db_name: str = field(default_factory=lambda: f"{BENCH_DB}_{os.getpid()}")
    pg_url: str = PG_ADMIN_URL
    broker_url: str = REDIS_URL
    queue: str = field(default_factory=lambda: f"bench-{os.getpid()}")
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cxr-bench-stack-")))
    gunicorn_workers: int = 2
    gunicorn_threads: int = 1
    worker_concurrency: int = 2
    model: str | None = None

    @property
    def database_url(self) -> str:
        return f"{self.pg_url}/{self.db_name}"

    def env(self) -> dict[str, str]:
        for sub in ("results", "var", "media"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_RESULT_BACKEND": f"file://{self.tmp / 'results'}",
            "CXR_VAR_DIR": str(self.tmp / "var"),
            "MEDIA_ROOT": str(self.tmp / "media"),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # The bench drives one user hard: the per-account limits on polling, submitting and
            # signing in (its ten clients sign in at once) would measure the throttle.
            "API_THROTTLE_USER": "1000000/min",
            "API_THROTTLE_SUBMIT": "1000000/min",
            "API_THROTTLE_LOGIN": "10000/min",
            "API_THROTTLE_AUTH": "10000/min",
            "AXES_FAILURE_LIMIT": "1000",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
        if self.model:
            env["CXR_MODEL_NAME"] = self.model
        return env


def _psql(*, url: str, sql: str) -> str:
    parsed = urlparse(url)
    cmd = [
        "psql",
        "-h",
        parsed.hostname or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def manage_run(*, config: StackConfig, args: list[str], timeout: float = 600) -> str:
    """Run `manage.py <args>` against the bench database; return its output."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=config.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def database_create(*, config: StackConfig) -> None:
    """Create a fresh bench database (dropping a leftover one), migrate it, add bench users."""
    _psql(url=config.pg_url, sql=f'DROP DATABASE IF EXISTS "{config.db_name}" WITH (FORCE)')
    _psql(url=config.pg_url, sql=f'CREATE DATABASE "{config.db_name}"')
    manage_run(config=config, args=["migrate", "--noinput", "-v", "0"])
    for username, role in USERS.items():
        manage_run(
            config=config,
            args=[
                "create_user",
                "--username",
                username,
                "--password",
                BENCH_PASSWORD,
                "--role",
                role,
                "--skip-password-validation",
            ],
        )


def database_drop(*, config: StackConfig) -> None:
    """Drop the bench database (closing anyone still connected)."""
    _psql(url=config.pg_url, sql=f'DROP DATABASE IF EXISTS "{config.db_name}" WITH (FORCE)')


def postgres_version(*, config: StackConfig) -> str | None:
    """Return the server's version string, or None when unreachable."""
    try:
        return _psql(url=config.pg_url, sql="SHOW server_version")
    except (OSError, subprocess.CalledProcessError):
        return None


@contextmanager
def database_running(*, config: StackConfig) -> Iterator[StackConfig]:
    """Create the bench database for the block and always drop it afterwards."""
    database_create(config=config)
    try:
        yield config
    finally:
        database_drop(config=config)


def port_free() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running gunicorn + Celery worker pair."""

    config: StackConfig
    base_url: str
    web: subprocess.Popen
    worker: subprocess.Popen
    logs: dict[str, Path]

    def web_worker_pids(self) -> list[int]:
        return process_children(pid=self.web.pid)

    def celery_child_pids(self) -> list[int]:
        return process_children(pid=self.worker.pid)

    def alive_check(self) -> None:
        """Raise (with the log tails) if gunicorn or the worker has exited."""
        for name, proc in (("web", self.web), ("worker", self.worker)):
            if proc.poll() is not None:
                tail = log_tail(path=self.logs[name])
                raise RuntimeError(f"{name} exited with status {proc.returncode}:\n{tail}")

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {
            "gunicorn": f"portal.wsgi, {c.gunicorn_workers} workers x {c.gunicorn_threads} thread",
            "celery": f"prefork, concurrency {c.worker_concurrency}, queue {c.queue}",
            "database": c.database_url,
            "broker": c.broker_url,
        }


def process_group_stop(*, process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after `timeout`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _spawn(*, cmd: list[str], config: StackConfig, log: Path) -> subprocess.Popen:
    with log.open("wb") as fh:
        return subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=config.env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def web_wait(*, base_url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until gunicorn answers /healthz (any status: 503 only means a part is degraded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            requests.get(f"{base_url}/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s")


def redis_queue_purge(*, config: StackConfig) -> None:
    """Delete the bench queue's keys from Redis (only keys naming our queue)."""
    try:
        import redis

        client = redis.Redis.from_url(config.broker_url)
        keys = [
            config.queue,
            f"_kombu.binding.{config.queue}",
            f"_kombu.binding_permanent.{config.queue}",
        ]
        # kombu's priority sub-queues are named "<queue>\x06\x16<n>".
        keys += list(client.scan_iter(match=f"{config.queue}\x06\x16*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception as exc:
        print(f"bench: could not purge Redis queue {config.queue}: {exc}", file=sys.stderr)


@contextmanager
def stack_running(*, config: StackConfig) -> Iterator[Stack]:
    """Run gunicorn + one Celery worker on the (already migrated) bench database."""
    port = port_free()
    logs = {"web": config.tmp / "gunicorn.log", "worker": config.tmp / "celery.log"}
    web_cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={config.gunicorn_workers}",
        f"--threads={config.gunicorn_threads}",
        "--timeout=120",
        "--log-level=warning",
    ]
    worker_cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool=prefork",
        f"--concurrency={config.worker_concurrency}",
        "-Q",
        config.queue,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
        f"--hostname={config.queue}@%h",
    ]
    web = worker = None
    try:
        web = _spawn(cmd=web_cmd, config=config, log=logs["web"])
        worker = _spawn(cmd=worker_cmd, config=config, log=logs["worker"])
        base_url = f"http://127.0.0.1:{port}"
        web_wait(base_url=base_url, process=web)
        yield Stack(config=config, base_url=base_url, web=web, worker=worker, logs=logs)
    finally:
        for proc in (worker, web):
            if proc is not None:
                process_group_stop(process=proc)
        redis_queue_purge(config=config)


def log_tail(*, path: Path, chars: int = 3000) -> str:
    """Return the end of a log file (for error reports)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
