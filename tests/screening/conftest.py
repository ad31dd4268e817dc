"""Fixtures for the screening tests: synthetic uploads, a fake screener, recorded enqueues."""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage


def chest_array(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> np.ndarray:
    try:
        from mlcore.synthetic import chest_like_array

        return chest_like_array(size=size, seed=seed)
    except ImportError:  # pragma: no cover - before mlcore.synthetic lands
        rng = np.random.default_rng(seed)
        return rng.uniform(0, 1, size=size).astype(np.float32)


def png_data(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> bytes:
    from mlcore.synthetic import png_bytes

    return png_bytes(pixels=chest_array(seed=seed, size=size))


def jpeg_data(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> bytes:
    from mlcore.synthetic import jpeg_bytes

    return jpeg_bytes(pixels=chest_array(seed=seed, size=size))


def dicom_data(*, seed: int = 0, size: tuple[int, int] = (256, 256), **kwargs) -> bytes:
    from mlcore.synthetic import dicom_bytes

    return dicom_bytes(pixels=chest_array(seed=seed, size=size), **kwargs)


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_upload(name: str = "chest.png", *, seed: int = 0) -> SimpleUploadedFile:
    return upload(name, png_data(seed=seed))


def fake_png(colour: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    buf = BytesIO()
    PILImage.new("RGB", (64, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class FakeResult:
    accepted: bool = True
    reason: str | None = None
    label: str | None = "pneumonia"
    probabilities: dict | None = field(
        default_factory=lambda: {"covid": 0.1, "pneumonia": 0.7, "normal": 0.2}
    )
    heatmap: object = None
    overlay_png: bytes | None = field(default_factory=fake_png)
    model_name: str = "fake-model"
    model_version: str = "9.9.9"
    timings_ms: dict = field(default_factory=lambda: {"decode": 1.0, "classify": 2.0})


class FakeScreener:
    model_name = "fake-model"
    model_version = "9.9.9"

    def __init__(self, result: FakeResult | None = None, error: Exception | None = None):
        self.result = result or FakeResult()
        self.error = error
        self.calls: list[str] = []

    def screen(self, *, data: bytes, filename: str) -> FakeResult:
        self.calls.append(filename)
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def fake_screener():
    from screening.inference import screener_reset

    screener = FakeScreener()
    screener_reset(screener=screener)
    yield screener
    screener_reset()


@pytest.fixture
def enqueued(monkeypatch):
    """Record predict_image.delay calls instead of publishing to the broker."""
    from screening import tasks

    calls: list[str] = []
    monkeypatch.setattr(tasks.predict_image, "delay", lambda pid: calls.append(pid))
    return calls


@pytest.fixture
def submit(clinician, enqueued):
    """Submit a study for `owner` (clinician by default) with on_commit callbacks run."""
    from screening.services import study_submit

    def _submit(owner=None, files=None, reference: str = ""):
        return study_submit(
            owner=owner or clinician, files=files or [png_upload()], reference=reference
        )

    return _submit
