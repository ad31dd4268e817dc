"""Run one of the project's `python -m` commands as a user would, from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

from tests.support.services import REPO_ROOT


def module_run(
    *, module: str, args: Iterable[object], env: dict[str, str] | None = None, timeout: float
) -> subprocess.CompletedProcess:
    """Run `python -m module args` quietly (TensorFlow's logs off); return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def script_run(*, script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run `python -c script` in a fresh interpreter from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
