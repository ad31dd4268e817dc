"""Screen many decoded images as the worker would (rules, gate, classifier), in batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.errors import ImageError
from mlcore.gate import gate_rules_check
from mlcore.lungs import lung_evidence_map, lung_fields_measure, segmenter_input_prepare
from mlcore.preprocess import grey_channels_merge

BATCH = 32


@dataclass
class Screened:
    """Per-item outcomes of a batch screening pass."""

    accepted: np.ndarray  # (N,) bool
    reasons: list[str | None]
    probs: np.ndarray  # (N, 3); NaN rows for unreadable files
    rule_refused: np.ndarray  # (N,) bool: refused by the cheap rules
    maha_refused: np.ndarray  # (N,) bool: feature distance above threshold
    cams: list[np.ndarray | None]  # predicted-class map per item, model space
    arrays: np.ndarray  # (N, S, S) model inputs (zeros when unreadable)
    boxes: list[tuple[int, int, int, int] | None]  # content box of each input
    # Share of the predicted class's Grad-CAM mass inside the segmented lung fields.
    evidence_in_lungs: list[float | None]

    @property
    def readable(self) -> np.ndarray:
        return ~np.isnan(self.probs).any(axis=1)


def file_decode(*, path: Path) -> tuple[Any, ...]:
    """(pixels, is_colour, dicom) of a file via mlcore.imageio; (None, None, None) if bad."""
    from mlcore.imageio import image_decode

    try:
        img = image_decode(data=path.read_bytes())
    except (ImageError, OSError):
        return (None, None, None)
    return (img.pixels, img.is_colour, img.dicom)


def _inputs_prepare(*, screener: Any, items: list[tuple[Any, ...]], desc: str):
    size = screener.classifier.input_size
    arrays = np.zeros((len(items), size, size), np.float32)
    boxes: list[tuple[int, int, int, int] | None] = [None] * len(items)
    rule_reasons: list[str | None] = [None] * len(items)
    lung_preps: list[Any] = [None] * len(items)
    lungs: list[Any] = [None] * len(items)
    rule_stats: list[dict] = [{} for _ in items]
    preps: list[Any] = [None] * len(items)
    readable = np.zeros(len(items), bool)
    for i, (pixels, is_colour, dicom) in enumerate(tqdm(items, desc=desc, unit="img")):
        if pixels is None:
            rule_reasons[i] = "unreadable"
            continue
        px = grey_channels_merge(pixels=pixels, is_colour=is_colour)
        rules = gate_rules_check(pixels=px, thresholds=screener.thresholds, dicom=dicom)
        rule_reasons[i] = None if rules.accepted else rules.reason
        rule_stats[i] = rules.scores
        if screener.segmenter is not None:
            lung_preps[i] = segmenter_input_prepare(pixels=px)
            lungs[i] = screener.lungs_run(preps=[lung_preps[i]])[0]
        prep = screener.classifier_input_prepare(pixels=px, lung=lungs[i], lung_prep=lung_preps[i])
        arrays[i], boxes[i], preps[i], readable[i] = prep.array, prep.content_box, prep, True
    return arrays, boxes, rule_reasons, readable, (preps, lung_preps, lungs, rule_stats)


def items_screen(*, screener: Any, items: list[tuple[Any, ...]], desc: str) -> Screened:
    """Gate and classify decoded items; metrics get probabilities even for refused ones."""
    arrays, boxes, rule_reasons, readable, (preps, lung_preps, lungs, rule_stats) = _inputs_prepare(
        screener=screener, items=items, desc=desc
    )
    n = len(items)
    accepted, maha_refused = np.zeros(n, bool), np.zeros(n, bool)
    reasons = list(rule_reasons)
    probs = np.full((n, 3), np.nan, np.float32)
    cams: list[np.ndarray | None] = [None] * n
    evidence: list[float | None] = [None] * n
    idx = np.flatnonzero(readable)
    for start in range(0, len(idx), BATCH):
        part = idx[start : start + BATCH]
        out = screener.classifier.run(batch=arrays[part])
        for j, i in enumerate(part):
            fields = None
            cams[i] = out.cams[j, :, :, int(out.probabilities[j].argmax())]
            if lungs[i] is not None:
                fields = lung_fields_measure(probability=lungs[i], prep=lung_preps[i])
                *_, evidence[i] = lung_evidence_map(
                    cam=cams[i], prep=preps[i], lung=lungs[i], lung_prep=lung_preps[i], max_side=256
                )
            decision = screener.gate_learned_check(
                gate_probabilities=out.gate_probabilities[j],
                features=out.features[j],
                fields=fields,
                image_stats=rule_stats[i],
                texture=None if out.texture is None else out.texture[j],
            )
            distance = decision.scores.get("mahalanobis_sq", decision.scores.get("distance_sq", 0))
            maha = distance > screener.thresholds.mahalanobis_max
            maha_refused[i] = maha
            probs[i] = out.probabilities[j]
            if rule_reasons[i] is None:
                accepted[i], reasons[i] = decision.accepted, decision.reason
    rule_refused = np.array([r is not None for r in rule_reasons])
    return Screened(
        accepted, reasons, probs, rule_refused, maha_refused, cams, arrays, boxes, evidence
    )


def probs_of_arrays(*, screener: Any, arrays: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of already-preprocessed inputs."""
    return screener.classifier.run_chunked(batch=arrays, chunk=BATCH).probabilities
