"""Run `manage.py dicom_listener` as a process on the test database, and dcmtk's SCUs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import REPO_ROOT, service_missing

AE_TITLE = "CXRSCREEN"


class ListenerProcess:
    def __init__(self, *, port: int, log_path: Path, process: subprocess.Popen) -> None:
        self.port, self.log_path, self.process = port, log_path, process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def listener_running(*, port: int, log_path: Path, **env: str) -> Iterator[ListenerProcess]:
    """Run the listener as AE CXRSCREEN on 127.0.0.1:port until the block ends."""
    from tests.support.worker import worker_env

    command = [
        sys.executable, "manage.py", "dicom_listener",
        "--host", "127.0.0.1", "--port", str(port), "--ae-title", AE_TITLE,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        listener = ListenerProcess(port=port, log_path=log_path, process=process)
        try:
            deadline = time.monotonic() + 60
            while "Listening as" not in listener.log():
                assert process.poll() is None and time.monotonic() < deadline, listener.log()
                time.sleep(0.1)
            yield listener
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)


def dcmtk(tool: str, *args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run one of dcmtk's tools (echoscu, storescu) verbosely; return the finished process."""
    binary = shutil.which(tool)
    if binary is None:
        service_missing(f"dcmtk's {tool} is not installed")
    return subprocess.run(
        [binary, "-v", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
