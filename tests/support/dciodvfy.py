"""Validate DICOM objects with dicom3tools' dciodvfy (Debian package dicom3tools)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.services import service_missing


def dciodvfy_errors(data: bytes) -> list[str]:
    """Return dciodvfy's "Error" lines for a Part 10 file (an empty list: it passes)."""
    binary = shutil.which("dciodvfy")
    if binary is None:
        service_missing("dciodvfy (dicom3tools) is not installed")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "object.dcm"
        path.write_bytes(data)
        done = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]
