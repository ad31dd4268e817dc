"""Throw-away services the fault suite owns: a PostgreSQL cluster, a Redis, a media tmpfs.

Each runs from a temporary folder on a free port and can be restarted, stopped and started
again (the faults); `close()` removes it. Nothing here touches the machine's own services.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path


class ServiceMissing(RuntimeError):
    """A tool the suite needs is not installed, or may not be used here."""


def port_free() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_wait(*, port: int, up: bool = True, timeout: float = 30) -> None:
    """Wait until the loopback `port` accepts connections (or, `up=False`, refuses them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} is not {'up' if up else 'down'} after {timeout:.0f} s")


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise ServiceMissing(f"PostgreSQL's {name} is not installed")
    return path


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster made with initdb in a temporary folder, run by `pg_ctl`."""

    root: Path
    port: int = field(default_factory=port_free)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _as_owner(self, *command: str) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the cluster folder's owner.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        command = self._as_owner(
            _postgres_bin("pg_ctl"), "-D", str(self.root / "data"), "-l",
            str(self.root / "postgres.log"), "-o", options, "-w", "-t", str(int(timeout)), *args,
        )  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=timeout + 10)

    def create(self) -> None:
        """Run initdb (trust on loopback only) and start the cluster."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
        initdb = self._as_owner(
            _postgres_bin("initdb"), "-D", str(self.root / "data"), "-U", "postgres",
            "-A", "trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        subprocess.run(initdb, check=True, capture_output=True, timeout=120)
        self.start()

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg_ctl("stop", "-m", "immediate", timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    """A redis-server without persistence: killed and started again, it comes back empty."""

    root: Path
    port: int = field(default_factory=port_free)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceMissing("redis-server is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.root),
        ]  # fmt: skip
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        port_wait(port=self.port)

    def kill(self) -> None:
        """SIGKILL it: everything it held (queued and unacked messages) is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class MediaTmpfs:
    """A small tmpfs for media, so the "disk full" fault fills only it."""

    root: Path
    size_mb: int = 256

    def mount(self) -> None:
        if os.geteuid() != 0:
            raise ServiceMissing("mounting the media tmpfs needs root")
        self.root.mkdir(parents=True, exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs"]
        subprocess.run([*command, str(self.root)], check=True, capture_output=True)

    @property
    def filler(self) -> Path:
        return self.root / ".chaos-filler"

    def fill(self) -> None:
        """Write a filler file until the filesystem refuses even a small block (ENOSPC)."""
        with self.filler.open("wb", buffering=0) as handle:
            for block in (b"\0" * (1 << 20), b"\0" * 4096, b"\0" * 64):
                try:
                    while True:
                        handle.write(block)
                except OSError:
                    continue

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=False, capture_output=True)


def temp_root() -> Path:
    """A temporary folder the postgres user may enter (the cluster lives under it)."""
    root = Path(tempfile.mkdtemp(prefix="cxr-chaos-"))
    root.chmod(0o755)
    return root


def owned_services_start(*, cleanup: ExitStack, root: Path) -> tuple[PostgresCluster, RedisServer]:
    """Start the suite's own PostgreSQL and Redis under `root`, closed when `cleanup` ends."""
    cleanup.callback(shutil.rmtree, root, ignore_errors=True)
    postgres = PostgresCluster(root=root / "postgres")
    cleanup.callback(postgres.close)
    postgres.create()
    redis = RedisServer(root=root / "redis")
    cleanup.callback(redis.close)
    redis.start()
    return postgres, redis
