"""Decide whether a test needing a real service runs, skips or fails (CXR_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
CHROMIUM = Path(os.environ.get("CXR_CHROMIUM", "/usr/bin/chromium"))


def services_required() -> bool:
    return os.environ.get("CXR_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip the test, or fail it when CI demands every service."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def port_open(*, host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def chromium_path() -> str | None:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    return shutil.which("chromium")
