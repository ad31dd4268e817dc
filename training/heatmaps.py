"""Where the model looks: Grad-CAM mass near the image edge, and a gallery per stratum.

A model that reads the lungs puts little evidence in the outer band of the image, where
burned-in text, markers, collimation edges and figure borders sit; a model that recognises
the source does not. Both views are written by `training evaluate`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def band_mask(*, shape: tuple[int, int], band: float) -> np.ndarray:
    """Bool (h, w) mask of the cells whose centres lie within `band` of an edge."""
    h, w = shape
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    in_y = (ys < band) | (ys > 1 - band)
    in_x = (xs < band) | (xs > 1 - band)
    return in_y[:, None] | in_x[None, :]


def cam_band_fraction(*, cams: np.ndarray, band: float = 0.1) -> np.ndarray:
    """Share of each (h, w) map's mass in the outer band; NaN for an all-zero map."""
    cams = np.maximum(np.asarray(cams, np.float64), 0.0)
    mask = band_mask(shape=cams.shape[1:3], band=band)
    total = cams.sum(axis=(1, 2))
    inside = (cams * mask).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def cam_band_report(
    *, cams: np.ndarray, sources: list[str], band: float = 0.1
) -> dict[str, object]:
    """Mean band share of the predicted-class maps, overall and per source, with the baseline."""
    frac = cam_band_fraction(cams=cams, band=band)
    src = np.asarray(sources)

    def mean(m: np.ndarray) -> float | None:
        v = frac[m]
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else None

    return {
        "band": band,
        "band_area_fraction": float(band_mask(shape=cams.shape[1:3], band=band).mean()),
        "all": mean(np.ones(len(frac), bool)),
        "by_source": {s: mean(src == s) for s in sorted(set(sources))},
    }


def gallery_pick(
    *, sources: list[str], labels: list[str], per_stratum: int = 5
) -> list[tuple[str, list[int]]]:
    """The first `per_stratum` indices of each (source, label) stratum, in a stable order."""
    strata: dict[str, list[int]] = {}
    for i, (s, y) in enumerate(zip(sources, labels, strict=True)):
        strata.setdefault(f"{s} / {y}", []).append(i)
    return [(k, v[:per_stratum]) for k, v in sorted(strata.items())]


def heatmap_gallery_plot(
    *,
    arrays: np.ndarray,
    cams: np.ndarray,
    titles: list[str],
    rows: list[tuple[str, list[int]]],
    path: Path,
) -> None:
    """Grid of preprocessed images with their predicted-class map, one row per stratum."""
    from training.plots import _plt

    plt = _plt()
    n_cols = max((len(ix) for _, ix in rows), default=1)
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(1.9 * n_cols, 2.1 * len(rows)), dpi=90, squeeze=False
    )
    size = arrays.shape[1]
    for r, (name, idx) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(idx):
                continue
            i = idx[c]
            cam = cams[i]
            peak = cam.max()
            ax.imshow(arrays[i], cmap="gray", vmin=-3, vmax=3)
            ax.imshow(
                cam / peak if peak > 0 else cam,
                cmap="jet",
                alpha=0.4,
                extent=(0, size, size, 0),
                interpolation="bilinear",
                vmin=0,
                vmax=1,
            )
            ax.set_title(titles[i], fontsize=7)
            if c == 0:
                ax.text(-8, size / 2, name, rotation=90, va="center", ha="right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    # A 256-colour palette keeps the committed report small (about a fifth of full RGB).
    Image.open(buf).convert("RGB").quantize(colors=256).save(path, optimize=True)
