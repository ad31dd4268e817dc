"""Generate synthetic non-radiograph images the gate must refuse (documents, UIs, noise...).

Deliberately independent of mlcore.testing so that tests using that module see negatives
the gate was not trained on.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NEGATIVE_KINDS = (
    "document",
    "screenshot",
    "blank",
    "noise",
    "gradient",
    "shapes",
    "photo_like",
    "texture",
    "ultrasound_like",
)
# The gate kind a generated image stands for; any other is "other".
GATE_KIND_OF = {"ultrasound_like": "ultrasound"}


def _document(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """White page with lines of dark 'text' blocks, sometimes a table or a figure box."""
    img = Image.new("L", (w, h), int(rng.integers(225, 256)))
    draw = ImageDraw.Draw(img)
    y = int(rng.integers(10, 40))
    line_h = int(rng.integers(6, 16))
    while y < h - 20:
        x = int(rng.integers(10, 40))
        while x < w - 30:
            word = int(rng.integers(10, 60))
            draw.rectangle([x, y, min(w - 10, x + word), y + line_h], fill=int(rng.integers(0, 90)))
            x += word + int(rng.integers(4, 12))
        y += line_h + int(rng.integers(4, 14))
        if rng.random() < 0.05:
            y += int(rng.integers(20, 80))
    if rng.random() < 0.4:
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        draw.rectangle([x0, y0, x0 + w // 3, y0 + h // 4], outline=0, width=2)
    return np.asarray(img, dtype=np.float32) / 255.0


def _screenshot(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Flat UI panels, bars and buttons in (mostly muted) colours."""
    img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(img)
    draw.rectangle(
        [0, 0, w, int(rng.integers(15, 50))], fill=tuple(int(v) for v in rng.integers(0, 256, 3))
    )
    for _ in range(int(rng.integers(5, 25))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(8, h // 3))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle([x0, y0, x1, y1], fill=fill)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr if rng.random() < 0.5 else arr.mean(axis=2)


def _blank(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return np.full((h, w), rng.random(), dtype=np.float32) + rng.normal(0, 0.003, (h, w)).astype(
        np.float32
    )


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    scale = int(rng.choice([1, 2, 4]))
    small = rng.random((h // scale + 1, w // scale + 1)).astype(np.float32)
    return np.kron(small, np.ones((scale, scale), np.float32))[:h, :w]


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.normal(size=2)
    g = a * yy / h + b * xx / w
    if rng.random() < 0.5:
        g = g + np.sin(xx / rng.uniform(5, 60)) * rng.uniform(0, 0.5)
    g = (g - g.min()) / (np.ptp(g) + 1e-6)
    return g.astype(np.float32)


def _shapes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = Image.new("L", (w, h), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 20))):
        x0, y0 = int(rng.integers(-20, w)), int(rng.integers(-20, h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=int(rng.integers(0, 256)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6))))
    return np.asarray(img, dtype=np.float32) / 255.0


def _photo_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random colour blobs: a crude stand-in for natural photos."""
    small = rng.random((int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3)).astype(np.float32)
    img = Image.fromarray((small * 255).astype(np.uint8), "RGB").resize(
        (w, h), Image.Resampling.BICUBIC
    )
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr + rng.normal(0, 0.03, arr.shape).astype(np.float32)
    arr = np.clip(arr, 0, 1)
    return arr if rng.random() < 0.6 else arr.mean(axis=2)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes / checkerboards / rings at random frequencies."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(4, 40)
    kind = rng.integers(0, 3)
    if kind == 0:
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == 1:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * rng.normal() + yy * rng.normal()) / period)
    else:
        r = np.hypot(yy - h / 2, xx - w / 2)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * r / period)
    return t.astype(np.float32)


def _speckle(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Rayleigh speckle, stretched along the probe's face like an echo texture."""
    cy, cx = int(rng.integers(1, 3)), int(rng.integers(3, 12))
    small = rng.rayleigh(1.0, (h // cy + 2, w // cx + 2)).astype(np.float32)
    img = Image.fromarray(np.clip(small * 80, 0, 255).astype(np.uint8), "L")
    img = img.resize((w + 2 * cx, h + 2 * cy), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)[:h, :w] / 255.0


def _ultrasound_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A B-mode frame: speckled tissue layers fading with depth, dark lesions, a box or fan."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = yy / h + 0.05 * np.sin(xx / w * rng.uniform(2, 8) + rng.uniform(0, 6))
    layers = np.interp(depth, np.sort(rng.random(8)), rng.uniform(0.2, 1.0, 8))
    tissue = _speckle(rng, h, w) * layers * np.exp(-depth * rng.uniform(0.5, 2.0))
    for _ in range(int(rng.integers(1, 4))):  # hypoechoic lesions with soft, uneven edges
        cy, cx = rng.uniform(0.2, 0.7) * h, rng.uniform(0.1, 0.9) * w
        ry, rx = rng.uniform(0.04, 0.2) * h, rng.uniform(0.05, 0.25) * w
        r = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        r += 0.3 * np.sin(np.arctan2(yy - cy, xx - cx) * rng.integers(2, 6))
        tissue *= np.clip(0.1 + 0.9 * (r - 0.7) / 0.6, 0.1, 1.0)
    if rng.random() < 0.3:  # sector probe: a fan from an apex above the frame
        angle = np.abs(np.arctan2(xx - w / 2, yy + 0.1 * h))
        mask = (angle < rng.uniform(0.5, 0.8)) & (np.hypot(xx - w / 2, yy + 0.1 * h) < 1.05 * h)
    else:  # linear probe: the frame, with thin black margins at most
        top, left = int(rng.integers(0, h // 12)), int(rng.integers(0, w // 12))
        mask = (yy >= top) & (xx >= left) & (xx < w - left)
    frame = np.where(mask, np.clip(tissue * rng.uniform(1.2, 2.2), 0, 1), 0.0)
    img = Image.fromarray((frame * 255).astype(np.uint8), "L")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 6))):  # calipers and burned-in labels
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 10))
        draw.rectangle([x0, y0, x0 + int(rng.integers(3, 30)), y0 + 4], fill=230)
    return np.asarray(img, dtype=np.float32) / 255.0


_MAKERS = {
    "document": _document,
    "screenshot": _screenshot,
    "blank": _blank,
    "noise": _noise,
    "gradient": _gradient,
    "shapes": _shapes,
    "photo_like": _photo_like,
    "texture": _texture,
    "ultrasound_like": _ultrasound_like,
}


def negatives_generate(*, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Return `n` (kind, pixels in [0, 1]) pairs, kinds in rotation, sizes 192-640 px."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)]
        h, w = (int(v) for v in rng.integers(192, 640, 2))
        out.append((kind, np.clip(_MAKERS[kind](rng, h, w), 0.0, 1.0).astype(np.float32)))
    return out
