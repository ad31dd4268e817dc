"""Decode PNG and JPEG with Pillow, refusing bombs and truncated files."""

from __future__ import annotations

import struct
import warnings
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps

from mlcore.errors import CorruptImageError, ImageError, ImageTooLargeError
from mlcore.imageio.common import (
    DecodedImage,
    ImageFormat,
    colour_resolve,
    decoded_image_build,
    size_check,
)

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG"}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def png_declared_size(*, data: bytes) -> tuple[int, int] | None:
    """Return (width, height) from the IHDR chunk without decoding."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_declared_size(*, data: bytes) -> tuple[int, int] | None:
    """Return (width, height) from the first SOF segment without decoding."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker == 0xDA:  # start of scan: no SOF before it
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def raster_integrity_check(*, data: bytes, fmt: ImageFormat) -> None:
    """Raise CorruptImageError for a truncated file, whatever LOAD_TRUNCATED_IMAGES says."""
    name = fmt.upper()
    if fmt == "jpeg":
        # A complete JPEG has an EOI marker after its last scan; trailing vendor data is allowed.
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            raise CorruptImageError(f"The {name} file is truncated or corrupt.")
        return
    try:
        with Image.open(BytesIO(data), formats=["PNG"]) as img:
            img.verify()  # walks every chunk to IEND and checks CRCs
    except Exception as exc:
        raise CorruptImageError(f"The {name} file is truncated or corrupt.") from exc


def image_pixels(*, img: Image.Image) -> tuple[np.ndarray, int]:
    """Return float32 pixels in [0, 1] ((H, W) or (H, W, 3)) and the bits per sample."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / 65535.0, 16
    if mode == "I":
        arr = np.clip(np.asarray(img, dtype=np.float64), 0, 65535)
        return (arr / 65535.0).astype(np.float32), 16
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32))
        return np.clip(arr, 0.0, 1.0), 32
    if mode in ("1", "L"):
        return np.asarray(img.convert("L")).astype(np.float32) / 255.0, 8
    if mode in ("LA", "La"):
        # Composite on black: transparent areas carry no radiograph.
        arr = np.asarray(img.convert("LA")).astype(np.float32) / 255.0
        return arr[..., 0] * arr[..., 1], 8
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        arr = np.asarray(img.convert("RGBA")).astype(np.float32) / 255.0
        return arr[..., :3] * arr[..., 3:4], 8
    return np.asarray(img.convert("RGB")).astype(np.float32) / 255.0, 8


def raster_decode(*, data: bytes, fmt: ImageFormat, max_pixels: int, min_side: int) -> DecodedImage:
    """Decode a PNG or JPEG; check the declared size before any pixel is decoded."""
    declared = png_declared_size(data=data) if fmt == "png" else jpeg_declared_size(data=data)
    if declared is not None:
        size_check(width=declared[0], height=declared[1], max_pixels=max_pixels, min_side=min_side)
    raster_integrity_check(data=data, fmt=fmt)
    name = fmt.upper()
    try:
        with warnings.catch_warnings():
            # Our own limit applies; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=[_PIL_FORMATS[fmt]]) as img:
                size_check(
                    width=img.width, height=img.height, max_pixels=max_pixels, min_side=min_side
                )
                img.load()
                try:
                    shown = ImageOps.exif_transpose(img)
                except Exception:  # a broken EXIF block must not cost the user the image
                    shown = img
                pixels, bits = image_pixels(img=shown)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"The image is too large; the limit is {max_pixels / 1_000_000:g} megapixels."
        ) from exc
    except Exception as exc:
        raise CorruptImageError(f"The {name} file is truncated or corrupt.") from exc

    pixels, is_colour = colour_resolve(pixels=np.clip(pixels, 0.0, 1.0))
    return decoded_image_build(pixels=pixels, fmt=fmt, bits_stored=bits, is_colour=is_colour)
