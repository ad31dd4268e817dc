"""The stack under test: web processes behind one balancer, Celery workers, one beat.

Every process gets the same environment but its own working directory and var folder; they
share only PostgreSQL, Redis and the media store, as separate hosts would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.options import COMPILED_DEFAULT
from chaos.services import MediaTmpfs, PostgresCluster, RedisServer, port_free, port_wait
from tests.support.worker import worker_stop

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL_DIR = REPO_ROOT / "tests" / "fixtures" / "models"
DB_NAME = "cxrscreen"
QUEUE = "chaos"
CLINICIAN = "chaos-clinician"
PACS_USER = "chaos-pacs"
PASSWORD = "chaos-Pa55word-not-secret"  # only ever in the throw-away chaos cluster
# Stated, not hidden: a dead worker's unacked messages come back after this many seconds
# (production default 300 s), and PACS retries wait at most this long.
VISIBILITY_TIMEOUT_S = 30
PACS_RETRY_MAX_DELAY_S = 20


@dataclass
class StackShape:
    """How many of each process, and which model the workers load."""

    webs: int = 2
    workers: int = 3
    model: str | None = "tiny"  # the fixture model; None: the shipped default
    pacs_url: str = ""


@dataclass
class ChaosStack:
    root: Path
    shape: StackShape
    postgres: PostgresCluster
    redis: RedisServer
    media: MediaTmpfs
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)
    port: int = field(default_factory=port_free)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"{self.postgres.url}/{DB_NAME}"

    def env(self, *, name: str) -> dict[str, str]:
        """The environment of process `name`: shared services, its own var folder."""
        var = self.root / "hosts" / name
        var.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "DEBUG": "false",
            "SECRET_KEY": "chaos-only-not-secret-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.redis.url,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "CELERY_RESULT_BACKEND": f"file://{var / 'results'}",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
            "CXR_VAR_DIR": str(var),
            # One flatbuffer cache for every host: a host's networks do not differ from another's.
            "CXR_COMPILED_DIR": os.environ.get("CXR_COMPILED_DIR", str(COMPILED_DEFAULT)),
            "MEDIA_ROOT": str(self.media.root),
            # Rate counts in Redis as in production (a Redis outage must not fail requests).
            "CACHE_URL": self.redis.url.rsplit("/", 1)[0] + "/1",
            "API_THROTTLE_USER": "1000000/min",
            "API_THROTTLE_SUBMIT": "1000000/min",
            "API_THROTTLE_AUTH": "10000/min",
            "CXR_PACS_DICOMWEB_URL": self.shape.pacs_url,
            "CXR_PACS_RETRY_DELAY_S": "5",
            "CXR_PACS_RETRY_MAX_DELAY_S": str(PACS_RETRY_MAX_DELAY_S),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
        for stale in ("CXR_TEST_RUN_ID", "CXR_BROKER_DIR", "CELERY_BROKER_TRANSPORT_OPTIONS"):
            env.pop(stale, None)
        if self.shape.model == "tiny":
            env.update(CXR_WEIGHTS_DIR=str(TINY_MODEL_DIR), CXR_MODEL_NAME="tiny")
        elif self.shape.model:
            env["CXR_MODEL_NAME"] = self.shape.model
        return env

    def _spawn(
        self, *, name: str, command: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cwd = self.root / "hosts" / name
        cwd.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            process = subprocess.Popen(
                command, cwd=cwd, env={**self.env(name=name), **(extra_env or {})}, stdout=handle,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def log(self, *, name: str, chars: int = 3000) -> str:
        try:
            return (self.root / "logs" / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "manage.py"), *args], cwd=REPO_ROOT,
            env=self.env(name="manage"), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def manage_celery(self, *args: str) -> str:
        """Run `celery -A portal ARGS` against the stack (e.g. remote control)."""
        done = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "portal", *args], cwd=REPO_ROOT,
            env=self.env(name="manage"), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"celery {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    # ------------------------------------------------------------------ start

    def database_prepare(self) -> str:
        """Create and migrate the database, add the users; return the PACS account's token."""
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.postgres.port), "-U", "postgres",
             "-d", "postgres", "-qc", f"CREATE DATABASE {DB_NAME}"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.manage("migrate", "--noinput", "-v", "0")
        for username, role in ((CLINICIAN, "clinician"), (PACS_USER, "pacs")):
            self.manage(
                "create_user", "--username", username, "--password", PASSWORD, "--role", role,
                "--skip-password-validation",
            )  # fmt: skip
        return self.manage("drf_create_token", PACS_USER).split()[2]

    def web_start(self, *, index: int) -> None:
        if len(self.web_ports) <= index:
            self.web_ports.append(port_free())
        port = self.web_ports[index]
        self._spawn(
            name=f"web{index}",
            command=[
                sys.executable, "-m", "gunicorn", "portal.wsgi:application",
                f"--bind=127.0.0.1:{port}", "--workers=1", "--threads=4", "--timeout=120",
                "--log-level=warning",
            ],
        )  # fmt: skip
        self.web_wait(port=port, name=f"web{index}")

    def web_wait(self, *, port: int, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name=name)}")
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")

    def balancer_start(self) -> None:
        backends = [f"--backend=127.0.0.1:{port}" for port in self.web_ports]
        command = [sys.executable, "-m", "chaos.balancer", f"--port={self.port}", *backends]
        self._spawn(name="balancer", command=command)
        port_wait(port=self.port)

    def worker_start(
        self, *, name: str, concurrency: int = 1, prefetch: int = 1, hold_s: float = 0
    ) -> None:
        """Start a worker; with `hold_s`, its first screening waits that long once running
        (tests.support.held_worker), so it can be killed while it holds tasks."""
        entry, extra_env = "celery", {}
        if hold_s:
            entry = "tests.support.held_worker"
            extra_env = {
                "CXR_TEST_HOLD_S": str(hold_s),
                "CXR_TEST_HOLD_MARKER": str(self.held_marker(name=name)),
            }
        self._spawn(
            name=name,
            command=[
                sys.executable, "-m", entry, "-A", "portal", "worker", "--pool=prefork",
                f"--concurrency={concurrency}", f"--prefetch-multiplier={prefetch}", "-Q", QUEUE,
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=INFO", f"--hostname={name}@%h",
            ],
            extra_env=extra_env,
        )  # fmt: skip

    def held_marker(self, *, name: str) -> Path:
        """The file a held worker creates when its first screening starts waiting."""
        return self.root / "hosts" / name / "held"

    def workers_wait(self, *, names: list[str], timeout: float = 300) -> None:
        """Wait until every named worker's child has loaded the model."""
        deadline = time.monotonic() + timeout
        for name in names:
            while "loaded" not in self.log(name=name, chars=200_000):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name=name)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not load the model:\n{self.log(name=name)}")
                time.sleep(0.3)

    def beat_start(self) -> None:
        schedule = self.root / "hosts" / "beat" / "schedule"
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel=INFO",
            f"--schedule={schedule}",
        ]  # fmt: skip
        self._spawn(name="beat", command=command)

    def start(self) -> str:
        """Start everything; return the PACS account's token."""
        token = self.database_prepare()
        names = [f"worker{i}" for i in range(self.shape.workers)]
        for name in names:
            self.worker_start(name=name)
        for index in range(self.shape.webs):
            self.web_start(index=index)
        self.balancer_start()
        self.beat_start()
        self.workers_wait(names=names)
        return token

    # ------------------------------------------------------------------ faults

    def kill(self, *, name: str) -> None:
        """SIGKILL the process and everything it started (a host lost at once)."""
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self, *, name: str, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            worker_stop(process=process, timeout=timeout)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name=name)
