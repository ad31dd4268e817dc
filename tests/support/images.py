"""Synthetic chest X-ray files and uploads for tests (PNG, JPEG, DICOM)."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage


def chest_array(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> np.ndarray:
    from mlcore.testing.arrays import chest_like_array

    return chest_like_array(size=size, seed=seed)


def png_data(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> bytes:
    from mlcore.testing.files import png_bytes

    return png_bytes(pixels=chest_array(seed=seed, size=size))


def jpeg_data(*, seed: int = 0, size: tuple[int, int] = (256, 256)) -> bytes:
    from mlcore.testing.files import jpeg_bytes

    return jpeg_bytes(pixels=chest_array(seed=seed, size=size))


def dicom_data(*, seed: int = 0, size: tuple[int, int] = (256, 256), **kwargs) -> bytes:
    from mlcore.testing.files import dicom_bytes

    return dicom_bytes(pixels=chest_array(seed=seed, size=size), **kwargs)


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_upload(name: str = "chest.png", *, seed: int = 0) -> SimpleUploadedFile:
    return upload(name, png_data(seed=seed))


def fake_png(colour: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    buf = BytesIO()
    PILImage.new("RGB", (64, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


def fake_jpeg(colour: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    buf = BytesIO()
    PILImage.new("RGB", (64, 64), colour).save(buf, format="JPEG")
    return buf.getvalue()
