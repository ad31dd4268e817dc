"""`python -m training drift-reference`: a model's reference band for the portal's drift watch.

Screens the model's dev (val) films exactly as the worker does (mlcore.pipeline.Screener) and
writes `drift_reference.json` beside its card: the figures the portal watches per site and
day (mlcore.drift), each with its standard error on one image, the quantiles of the gate
distance and of p(covid), and the mixes of refusal reasons, classes, sizes and formats.
Reviewer agreement is taken as the share of accepted films whose finding is their label.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.drift import REFERENCE_FILENAME, DriftItem, gate_distance_of, reference_build
from mlcore.errors import ImageError
from training.data import table_filter, table_read

BATCH = 16


def val_films_list(*, data: list[Path], split: str) -> list[tuple[Path, str]]:
    """(path, label) of every film of `split` in the data sets' metadata.csv."""
    films = []
    for root in data:
        table = table_filter(table=table_read(root=root), split=split)
        films += [(root / r["file"], r.get("label", "")) for r in table.rows]
    return films


def films_subset(
    *, films: list[tuple[Path, str]], limit: int | None, seed: int
) -> list[tuple[Path, str]]:
    """Return at most `limit` films, drawn at random (all of them without a limit)."""
    if limit is None or len(films) <= limit:
        return films
    keep = np.sort(np.random.default_rng(seed).choice(len(films), size=limit, replace=False))
    return [films[i] for i in keep]


def item_of(*, result: Any, decoded: Any, label: str) -> DriftItem:
    """The drift watch's view of one screened film (its label stands in for a reviewer)."""
    finding = (result.decision or result.label or "") if result.accepted else ""
    probabilities = result.probabilities or {}
    height, width = decoded.pixels.shape[:2]
    return DriftItem(
        accepted=bool(result.accepted),
        reason=str(result.reason or ""),
        gate_distance=gate_distance_of(scores=result.gate_scores),
        p_covid=probabilities.get("covid"),
        finding=finding,
        width=int(width),
        height=int(height),
        format=decoded.format,
        modality=str((decoded.dicom or {}).get("Modality", "")),
        photometric=str((decoded.dicom or {}).get("PhotometricInterpretation", "")),
        agreed=(finding == label) if result.accepted and label else None,
    )


def films_screen(*, screener: Any, films: list[tuple[Path, str]]) -> tuple[list[DriftItem], int]:
    """Screen the films in batches; return their items and how many could not be read."""
    from mlcore.imageio import image_decode

    items, unreadable = [], 0
    for start in tqdm(range(0, len(films), BATCH), desc="screen", unit="batch"):
        part = films[start : start + BATCH]
        blobs = [path.read_bytes() for path, _ in part]
        names = [path.name for path, _ in part]
        results = screener.screen_many(items=list(zip(blobs, names, strict=True)))
        for blob, (_, label), result in zip(blobs, part, results, strict=True):
            if isinstance(result, ImageError):
                unreadable += 1
                continue
            items.append(item_of(result=result, decoded=image_decode(data=blob), label=label))
    return items, unreadable


def drift_reference_run(
    *, model_dir: Path, data: list[Path], split: str = "val", limit: int | None = None
) -> dict[str, Any]:
    """Screen the split's films with the model and write its drift_reference.json."""
    from mlcore.pipeline import Screener

    started = time.monotonic()
    screener = Screener.load(name=model_dir.name, weights_dir=model_dir.parent)
    films = films_subset(films=val_films_list(data=data, split=split), limit=limit, seed=0)
    items, unreadable = films_screen(screener=screener, films=films)
    about = {
        "model": screener.card.name,
        "version": screener.card.version,
        "split": split,
        "data": [root.name for root in data],
        "films": len(films),
        "unreadable": unreadable,
        "operating_point": screener.operating_point and screener.operating_point.name,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    reference = reference_build(items=items, about=about)
    reference["seconds"] = round(time.monotonic() - started, 1)
    path = model_dir / REFERENCE_FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(reference, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return reference
