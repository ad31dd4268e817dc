"""The real stack around a test: the tiny fixture model, the broker kind, a free port, a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.services import REPO_ROOT

TINY_MODEL_DIR = REPO_ROOT / "tests" / "fixtures" / "models"
TINY_MODEL_NAME = "tiny"


def tiny_model_env() -> dict[str, str]:
    if not (TINY_MODEL_DIR / TINY_MODEL_NAME / "model.keras").is_file():
        pytest.skip("the tiny fixture model is missing")
    return {"CXR_WEIGHTS_DIR": str(TINY_MODEL_DIR), "CXR_MODEL_NAME": TINY_MODEL_NAME}


def broker_is_redis() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith("redis://")


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
