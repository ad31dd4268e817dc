"""Decode PNG, JPEG and DICOM bytes into one normalised float array.

CONTRACT (other packages rely on these names and shapes; keep them):
- image_sniff(*, data) -> "png" | "jpeg" | "dicom" | None, from magic bytes only.
- image_decode(*, data, max_pixels=..., min_side=...) -> DecodedImage or raises
  mlcore.errors.ImageError subclasses.
- image_thumbnail_png(*, image, size=256) -> PNG bytes; image_to_uint8(*, pixels) -> uint8 array.
- image_thumbnail_jpeg(*, image, size=256, quality=85) -> JPEG bytes (a few ms, for uploads).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from mlcore.errors import CorruptImageError, ImageError, NotAnImageError
from mlcore.imageio.common import (
    MAX_PIXELS_DEFAULT,
    MIN_SIDE_DEFAULT,
    DecodedImage,
    ImageFormat,
)
from mlcore.imageio.dicom import dicom_bare_check, dicom_decode, dicom_has_magic
from mlcore.imageio.raster import raster_decode

__all__ = [
    "MAX_PIXELS_DEFAULT",
    "MIN_SIDE_DEFAULT",
    "DecodedImage",
    "ImageFormat",
    "image_decode",
    "image_sniff",
    "image_thumbnail_jpeg",
    "image_thumbnail_png",
    "image_to_uint8",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def image_sniff(*, data: bytes) -> ImageFormat | None:
    """Return the format from the file's magic bytes, never from its name."""
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if dicom_has_magic(data=data) or dicom_bare_check(data=data):
        return "dicom"
    return None


def image_decode(
    *, data: bytes, max_pixels: int = MAX_PIXELS_DEFAULT, min_side: int = MIN_SIDE_DEFAULT
) -> DecodedImage:
    """Decode `data`; raise an ImageError subclass naming the problem."""
    fmt = image_sniff(data=data)
    if fmt is None:
        raise NotAnImageError("The file is not a PNG, JPEG or DICOM image.")
    try:
        if fmt == "dicom":
            return dicom_decode(data=data, max_pixels=max_pixels, min_side=min_side)
        return raster_decode(data=data, fmt=fmt, max_pixels=max_pixels, min_side=min_side)
    except ImageError:
        raise
    except Exception as exc:  # last line of defence: no raw library error reaches the user
        raise CorruptImageError(f"The {fmt.upper()} file is truncated or corrupt.") from exc


def image_to_uint8(*, pixels: np.ndarray) -> np.ndarray:
    """Scale [0, 1] floats to uint8 (0..255), clipping anything outside."""
    arr = np.nan_to_num(np.asarray(pixels, dtype=np.float32))
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def image_thumbnail_png(*, image: DecodedImage, size: int = 256) -> bytes:
    """Return an 8-bit PNG no larger than `size` on its longer side, aspect kept."""
    arr = image_to_uint8(pixels=image.pixels)
    thumb = Image.fromarray(arr, mode="RGB" if arr.ndim == 3 else "L")
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = BytesIO()
    thumb.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def image_thumbnail_jpeg(*, image: DecodedImage, size: int = 256, quality: int = 85) -> bytes:
    """Return an 8-bit JPEG no larger than `size` on its longer side, aspect kept."""
    arr = image_to_uint8(pixels=_box_reduce(pixels=image.pixels, size=size))
    thumb = Image.fromarray(arr, mode="RGB" if arr.ndim == 3 else "L")
    # Box-reduce to about twice the size first, then resample: as sharp, a tenth of the cost.
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    buf = BytesIO()
    thumb.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def image_export_png(*, image: DecodedImage, max_side: int) -> bytes:
    """Return the pixels alone as an 8-bit grayscale PNG, the longer side at most `max_side`.

    Only pixels are written: no DICOM header, no text chunk, nothing of the original file.
    """
    arr = image_to_uint8(pixels=_box_reduce(pixels=image.pixels, size=max_side))
    film = Image.fromarray(arr, mode="RGB" if arr.ndim == 3 else "L").convert("L")
    film.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = BytesIO()
    film.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _box_reduce(*, pixels: np.ndarray, size: int) -> np.ndarray:
    """Average `pixels` over whole blocks so the longer side stays at least twice `size`."""
    factor = max(pixels.shape[:2]) // (2 * size)
    if factor < 2:
        return pixels
    h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    # A sum of strided views: numpy's mean over a reshaped block view is several times slower.
    total = np.zeros((h // factor, w // factor, *pixels.shape[2:]), dtype=np.float32)
    for dy in range(factor):
        for dx in range(factor):
            total += pixels[dy:h:factor, dx:w:factor]
    return total / np.float32(factor * factor)
