"""Lung fields: measure a segmenter's mask, map it to the film, weigh evidence inside it.

Pure numpy + scipy.ndimage (no TensorFlow): the segmenter itself is `mlcore.segmenter`.
Sides are the image's: "left" is the viewer's left, the patient's right on a PA film.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from mlcore.gradcam import heatmap_to_source
from mlcore.preprocess import Preprocessed, radiograph_preprocess

SEGMENTER_INPUT_SIZE = 128
SEGMENTER_FILENAME = "lungs.keras"
SEGMENTER_REPORT = "lungs.json"  # how it was trained and its Dice per split
MASK_THRESHOLD = 0.5
# A component smaller than this share of the content is a speck, not a lung field.
FIELD_MIN_SHARE = 0.01
# How far the lung box used for cropping reaches past the fields, as a share of its size.
LUNG_BOX_MARGIN = 0.12


@dataclass(frozen=True)
class LungFields:
    """What the mask says about a film's two lung fields (shares of the content area)."""

    fields: int  # components above FIELD_MIN_SHARE
    left_share: float  # area of the largest field on the image's left half
    right_share: float
    total_share: float  # all mask pixels
    left_centroid: tuple[float, float]  # (y, x) in [0, 1] of the content box; (0, 0) if none
    right_centroid: tuple[float, float]
    left_height: float  # vertical extent of the field, share of the content height
    right_height: float
    confidence: float  # mean segmenter probability over the mask (0 if empty)

    def features(self) -> np.ndarray:
        """The measures as a fixed-order float32 vector (gate input)."""
        return np.array(
            [
                min(self.fields, 4) / 4,
                self.left_share,
                self.right_share,
                self.total_share,
                *self.left_centroid,
                *self.right_centroid,
                self.left_height,
                self.right_height,
                min(self.left_share, self.right_share)
                / max(self.left_share, self.right_share, 1e-6),
                self.confidence,
            ],
            dtype=np.float32,
        )


LUNG_FEATURE_COUNT = 12


def lung_fields_plausible(*, fields: LungFields, side_min: float, side_max: float) -> bool:
    """Two fields, one each side, each covering a plausible share of the content."""
    return all(side_min <= s <= side_max for s in (fields.left_share, fields.right_share))


def segmenter_input_prepare(*, pixels: np.ndarray) -> Preprocessed:
    """The segmenter's input: the classifier's preprocessing at its own size, no edge fade."""
    return radiograph_preprocess(pixels=pixels, size=SEGMENTER_INPUT_SIZE, fade=0.0)


def content_mask(*, probability: np.ndarray, prep: Preprocessed) -> np.ndarray:
    """The segmenter's (S, S) probability inside the content box, as a boolean mask."""
    ct, cl, cb, cr = prep.content_box
    return np.asarray(probability[ct:cb, cl:cr]) >= MASK_THRESHOLD


def _side_field(labels: np.ndarray, sizes: np.ndarray, centroids_x: np.ndarray, left: bool) -> int:
    """Label of the largest field whose centroid lies on the asked half (0 if none)."""
    best, best_size = 0, 0.0
    for index, (size, cx) in enumerate(zip(sizes, centroids_x, strict=True), start=1):
        if (cx < 0.5) == left and size > best_size:
            best, best_size = index, size
    return best


def _field_shape(mask: np.ndarray) -> tuple[tuple[float, float], float]:
    """Centroid (y, x) in [0, 1] and vertical extent share of one boolean field."""
    if not mask.any():
        return (0.0, 0.0), 0.0
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    return (float(ys.mean() / h), float(xs.mean() / w)), float((ys.max() - ys.min() + 1) / h)


def lung_fields_measure(*, probability: np.ndarray, prep: Preprocessed) -> LungFields:
    """Measure the two lung fields in a (S, S) segmenter probability map."""
    mask = content_mask(probability=probability, prep=prep)
    area = float(max(mask.size, 1))
    labels, count = ndimage.label(mask)
    index = np.arange(1, count + 1)
    sizes = np.asarray(ndimage.sum(mask, labels, index), np.float64) / area
    if not count:
        sizes = np.zeros(0)
    keep = sizes >= FIELD_MIN_SHARE
    xs = (
        np.array([c[1] for c in ndimage.center_of_mass(mask, labels, index)]) / mask.shape[1]
        if count
        else np.zeros(0)
    )
    sizes_kept = np.where(keep, sizes, 0.0)
    left = _side_field(labels, sizes_kept, xs, left=True)
    right = _side_field(labels, sizes_kept, xs, left=False)
    left_mask, right_mask = labels == left if left else None, labels == right if right else None
    lc, lh = _field_shape(left_mask) if left_mask is not None else ((0.0, 0.0), 0.0)
    rc, rh = _field_shape(right_mask) if right_mask is not None else ((0.0, 0.0), 0.0)
    ct, cl, cb, cr = prep.content_box
    inside = np.asarray(probability[ct:cb, cl:cr])[mask]
    return LungFields(
        fields=int(keep.sum()),
        left_share=float(sizes[left - 1]) if left else 0.0,
        right_share=float(sizes[right - 1]) if right else 0.0,
        total_share=float(mask.mean()) if mask.size else 0.0,
        left_centroid=lc,
        right_centroid=rc,
        left_height=lh,
        right_height=rh,
        confidence=float(inside.mean()) if inside.size else 0.0,
    )


def mask_to_source(
    *, probability: np.ndarray, prep: Preprocessed, shape: tuple[int, int]
) -> np.ndarray:
    """Map a model-space (S, S) probability onto a source frame of `shape` as a boolean mask."""
    ct, cl, cb, cr = prep.content_box
    content = np.ascontiguousarray(probability[ct:cb, cl:cr], dtype=np.float32)
    h, w = prep.source_shape
    oh, ow = shape
    sy, sx = oh / h, ow / w
    top, left, bottom, right = prep.crop_box
    y0, x0 = round(top * sy), round(left * sx)
    y1, x1 = min(oh, max(y0 + 1, round(bottom * sy))), min(ow, max(x0 + 1, round(right * sx)))
    out = np.zeros((oh, ow), dtype=np.float32)
    out[y0:y1, x0:x1] = np.asarray(
        Image.fromarray(content, mode="F").resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
    )
    return out >= MASK_THRESHOLD


def evidence_in_lungs_share(*, heatmap: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of the heatmap's mass inside the mask (None when the map is empty)."""
    heat = np.maximum(np.asarray(heatmap, np.float64), 0.0)
    total = float(heat.sum())
    if total <= 0 or heat.shape != mask.shape:
        return None
    return float(heat[mask].sum() / total)


def lung_evidence_map(
    *,
    cam: np.ndarray,
    prep: Preprocessed,
    lung: np.ndarray,
    lung_prep: Preprocessed,
    max_side: int,
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The heatmap on the film, the lung mask in its frame, and the share of mass inside.

    The share is taken over the fields widened by half a heatmap cell: a map of a few cells
    cannot place evidence more finely than that, and the visible fields leave out the lung
    behind the heart and below the domes. The mask returned (the outline drawn) is the fields.
    """
    heatmap = heatmap_to_source(cam=cam, prep=prep, max_side=max_side)
    mask = mask_to_source(probability=lung, prep=lung_prep, shape=heatmap.shape)
    widened = lung_region_widen(probability=lung, cells=max(cam.shape[:2]))
    region = mask_to_source(probability=widened, prep=lung_prep, shape=heatmap.shape)
    return heatmap, mask, evidence_in_lungs_share(heatmap=heatmap, mask=region)


def lung_region_widen(*, probability: np.ndarray, cells: int) -> np.ndarray:
    """The fields of a (S, S) map widened by half a cell of a `cells`-wide heatmap, as 0/1."""
    fields = np.asarray(probability) >= MASK_THRESHOLD
    radius = 0.5 * probability.shape[0] / max(cells, 1)
    return (ndimage.distance_transform_edt(~fields) <= radius).astype(np.float32)


def mask_outline(*, mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The boundary pixels of a boolean mask, `width` pixels thick."""
    inner = ndimage.binary_erosion(mask, iterations=max(1, width), border_value=0)
    return mask & ~inner


def lung_box(
    *, probability: np.ndarray, prep: Preprocessed, margin: float = LUNG_BOX_MARGIN
) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) in the source frame around the lung fields, or None."""
    mask = mask_to_source(probability=probability, prep=prep, shape=prep.source_shape)
    if mask.mean() < FIELD_MIN_SHARE:
        return None
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = (y1 - y0) * margin, (x1 - x0) * margin
    return (
        max(0, int(y0 - dy)),
        max(0, int(x0 - dx)),
        min(h, int(np.ceil(y1 + dy))),
        min(w, int(np.ceil(x1 + dx))),
    )
