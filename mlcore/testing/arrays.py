"""Deterministic synthetic arrays for tests, gate evaluation and benchmarks.

Arrays are float32 in [0, 1] (white = dense), (H, W) or (H, W, 3). Nothing here is a real
radiograph: `chest_like_array` only exercises formats, never a classifier's accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Size = tuple[int, int]  # (height, width)

_WORDS = ["the", "of", "patient", "report", "page", "date", "invoice", "lorem", "ipsum"]


def _box_blur(arr: np.ndarray, *, radius: int) -> np.ndarray:
    """Blur with a separable box filter (edge-padded), cheap stand-in for a Gaussian."""
    if radius < 1:
        return arr
    k = 2 * radius + 1
    out = arr
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        hi = np.take(c, np.arange(k, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - k), axis=axis)
        out = (hi - lo) / k
    return out


def _ellipse(yy: np.ndarray, xx: np.ndarray, *, cy: float, cx: float, ry: float, rx: float):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def chest_like_array(*, size: Size = (256, 256), seed: int) -> np.ndarray:
    """Return a frontal-radiograph-like image: dark lungs, bright mediastinum, spine and ribs."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = yy / max(h - 1, 1), xx / max(w - 1, 1) * 2.0 - 1.0  # y in [0,1], x in [-1,1]
    j = rng.uniform(-0.04, 0.04, size=6)

    img = np.full((h, w), 0.04)
    body = _ellipse(yy, xx, cy=0.6, cx=0.0, ry=0.75, rx=0.82 + j[0])
    img[body] = 0.45
    lungs = _ellipse(yy, xx, cy=0.47 + j[1], cx=-0.38, ry=0.33, rx=0.27 + j[2]) | _ellipse(
        yy, xx, cy=0.47 + j[1], cx=0.38, ry=0.33, rx=0.27 + j[3]
    )
    img[lungs] = 0.16
    ribs = lungs & (np.sin(2 * np.pi * (yy * 9.0 + 1.6 * xx**2 + j[4])) > 0.55)
    img[ribs] += 0.14
    img[_ellipse(yy, xx, cy=0.63, cx=0.1 + j[5], ry=0.2, rx=0.24)] = 0.62  # heart
    img[(np.abs(xx) < 0.13) & (yy > 0.12) & body] = 0.68  # mediastinum
    img[(np.abs(xx) < 0.05) & body] = 0.82  # spine
    clavicles = np.abs(yy - (0.16 + 0.08 * np.abs(xx))) < 0.018
    img[clavicles & (np.abs(xx) < 0.6) & body] = 0.85
    img = _box_blur(img, radius=max(1, min(h, w) // 128))
    img = img + rng.normal(0.0, 0.015, size=img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def document_image(*, size: Size = (256, 256), seed: int) -> np.ndarray:
    """Return a white page with lines of black text (a scanned letter or report)."""
    h, w = size
    rng = np.random.default_rng(seed)
    img = Image.new("L", (w, h), color=int(rng.integers(225, 256)))
    draw = ImageDraw.Draw(img)
    line = max(8, h // int(rng.integers(14, 28)))
    font = _font(max(6, int(line * 0.75)))
    margin = max(2, w // 12)
    for y in range(margin, h - margin, line):
        words = " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 12))))
        draw.text((margin, y), words, fill=int(rng.integers(0, 60)), font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def screenshot_image(*, size: Size = (256, 256), seed: int) -> np.ndarray:
    """Return an RGB UI-like screen: title bar, sidebar, coloured panels, buttons and text."""
    h, w = size
    rng = np.random.default_rng(seed)
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, size=3))  # noqa: E731
    img = Image.new("RGB", (w, h), color=(245, 245, 248))
    draw = ImageDraw.Draw(img)
    bar = max(6, h // 12)
    draw.rectangle((0, 0, w, bar), fill=colour())
    draw.rectangle((0, bar, w // 5, h), fill=colour())
    font = _font(max(6, bar // 2))
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(w // 5, w - 10)), int(rng.integers(bar, h - 10))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(8, h // 4))
        draw.rectangle((x0, y0, x1, y1), fill=colour(), outline=(90, 90, 90))
        draw.text((x0 + 2, y0 + 1), str(rng.choice(_WORDS)), fill=(0, 0, 0), font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def blank_image(*, size: Size = (256, 256), level: float = 0.5) -> np.ndarray:
    """Return a constant image at `level`."""
    return np.full(size, np.float32(np.clip(level, 0.0, 1.0)), dtype=np.float32)


def noise_image(
    *,
    size: Size = (256, 256),
    seed: int,
    kind: Literal["uniform", "gaussian", "salt_pepper"] = "uniform",
) -> np.ndarray:
    """Return pure noise of the given kind."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        arr = rng.uniform(0.0, 1.0, size=size)
    elif kind == "gaussian":
        arr = rng.normal(0.5, 0.18, size=size)
    elif kind == "salt_pepper":
        arr = np.full(size, 0.5)
        u = rng.uniform(size=size)
        arr[u < 0.1], arr[u > 0.9] = 0.0, 1.0
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def gradient_image(
    *,
    size: Size = (256, 256),
    direction: Literal["horizontal", "vertical", "radial"] = "horizontal",
) -> np.ndarray:
    """Return a smooth linear or radial ramp from 0 to 1."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if direction == "horizontal":
        arr = xx / max(w - 1, 1)
    elif direction == "vertical":
        arr = yy / max(h - 1, 1)
    else:
        arr = np.hypot(yy - h / 2, xx - w / 2)
        arr = arr / max(float(arr.max()), 1e-6)
    return arr.astype(np.float32)


def checkerboard_image(*, size: Size = (256, 256), square: int = 16) -> np.ndarray:
    """Return a black-and-white checkerboard with `square`-pixel cells."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy // square) + (xx // square)) % 2).astype(np.float32)


def tiny_image(*, size: Size = (16, 16), seed: int) -> np.ndarray:
    """Return a very small random image (below any sensible minimum side)."""
    return noise_image(size=size, seed=seed)


def extreme_aspect_image(*, size: Size = (100, 2000), seed: int) -> np.ndarray:
    """Return a long thin strip (a panorama or a cropped banner)."""
    rng = np.random.default_rng(seed)
    base = gradient_image(size=size, direction="horizontal")
    return np.clip(base * 0.7 + rng.uniform(0, 0.3, size=size), 0, 1).astype(np.float32)


def colour_photo_like_image(*, size: Size = (256, 256), seed: int) -> np.ndarray:
    """Return a smooth, saturated RGB scene: sky, ground and blurred coloured blobs."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, h)[:, None, None]
    sky, ground = rng.uniform(0.3, 1.0, size=3), rng.uniform(0.0, 0.7, size=3)
    img = np.where(yy < rng.uniform(0.3, 0.7), sky, ground) * np.ones((h, w, 3))
    yg, xg = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(3, 8))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.05, 0.25) * min(h, w)
        img[(yg - cy) ** 2 + (xg - cx) ** 2 < r * r] = rng.uniform(0, 1, size=3)
    img = np.dstack([_box_blur(img[..., c], radius=max(1, min(h, w) // 64)) for c in range(3)])
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def negative_samples(*, n: int, seed: int, size: Size = (256, 256)) -> list[tuple[str, np.ndarray]]:
    """Return `n` varied (kind, pixels) non-radiographs for training the input gate."""
    rng = np.random.default_rng(seed)
    makers: dict[str, Callable[[int], np.ndarray]] = {
        "document": lambda s: document_image(size=size, seed=s),
        "screenshot": lambda s: screenshot_image(size=size, seed=s),
        "blank": lambda s: blank_image(size=size, level=float(np.random.default_rng(s).uniform())),
        "noise_uniform": lambda s: noise_image(size=size, seed=s, kind="uniform"),
        "noise_gaussian": lambda s: noise_image(size=size, seed=s, kind="gaussian"),
        "noise_salt_pepper": lambda s: noise_image(size=size, seed=s, kind="salt_pepper"),
        "gradient": lambda s: gradient_image(
            size=size, direction=("horizontal", "vertical", "radial")[s % 3]
        ),
        "checkerboard": lambda s: checkerboard_image(size=size, square=4 + s % 29),
        "colour_photo": lambda s: colour_photo_like_image(size=size, seed=s),
        "extreme_aspect": lambda s: extreme_aspect_image(
            size=(max(8, size[0] // 8), size[1] * 2), seed=s
        ),
    }
    kinds = list(makers)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)] if i < len(kinds) else str(rng.choice(kinds))
        out.append((kind, makers[kind](int(rng.integers(0, 2**31 - 1)))))
    return out
