"""Keep a Grad-CAM heatmap's values (not only its JPEG overlay) as a 16-bit greyscale PNG.

CONTRACT: heatmap_encode(*, heatmap) -> bytes (values in [0, 1], kept to 1/65535);
heatmap_decode(*, data) -> float32 array in [0, 1]. Pure Python, no Django.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

LEVELS = 65535


def heatmap_encode(*, heatmap: np.ndarray) -> bytes:
    """Return the heatmap as a 16-bit PNG."""
    values = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    buf = BytesIO()
    Image.fromarray(np.rint(values * LEVELS).astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def heatmap_decode(*, data: bytes) -> np.ndarray:
    """Return the heatmap stored by heatmap_encode, float32 in [0, 1]."""
    with Image.open(BytesIO(data)) as image:
        return np.asarray(image, dtype=np.float32) / LEVELS
