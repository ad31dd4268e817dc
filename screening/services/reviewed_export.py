"""Write a site's reviewed cases as a training source: the `siim` layout, without patient data.

OUT/images/<image id>.png holds the pixels alone (no header, no file name, no reference);
OUT/metadata.csv has one row per image and label, with a study-level split. A reviewer's label
is the truth (a correction wins over the model's label); reviewers who disagree are each
written, and the row says so. OUT/export.json says what was written and what was left out.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from mlcore.errors import ImageError
from mlcore.imageio import image_decode, image_export_png
from mlcore.splits import split_of_key
from portal.accounts.models import Site
from screening.models import Prediction
from screening.reviewed_selectors import reviewed_predictions_iter
from screening.services.audit import audit_record

METADATA_COLUMNS = (
    "file", "label", "source", "patient_id", "split", "reviewers", "agreement", "model_label",
)  # fmt: skip
SPLIT_SALT = "reviewed-v1"
SPLIT_TRAIN_PCT, SPLIT_VAL_PCT = 70, 15


class ExportError(ValueError):
    pass


@dataclass
class ExportSummary:
    site: str
    since: str | None
    created_utc: str
    images: int = 0
    rows: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    disagreements: int = 0
    unreadable: int = 0
    note: str = (
        "Pixels only: DICOM headers, file names and references are not written. Text burned "
        "into the pixels (names, dates) is not removed; look before sharing."
    )


def review_labels_resolve(*, labels: list[str]) -> tuple[list[str], str]:
    """Return the labels to write for one image's reviews and "agree", "single" or "disagree"."""
    distinct = sorted(set(labels))
    if len(distinct) > 1:
        return distinct, "disagree"
    return distinct, "single" if len(labels) == 1 else "agree"


def _rows_of(*, prediction: Prediction, site: Site, file: str) -> tuple[list[dict], str]:
    labels, agreement = review_labels_resolve(labels=[r.label for r in prediction.reviews.all()])
    study_key = str(prediction.image.study_id)
    common = {
        "file": file,
        "source": f"site-{site.slug}",
        "patient_id": f"study_{study_key}",
        "split": split_of_key(
            key=study_key, salt=SPLIT_SALT, train_pct=SPLIT_TRAIN_PCT, val_pct=SPLIT_VAL_PCT
        ),
        "reviewers": str(len(prediction.reviews.all())),
        "agreement": agreement,
        "model_label": prediction.finding,
    }
    return [{**common, "label": label} for label in labels], agreement


def _png_of(*, prediction: Prediction, max_side: int) -> bytes:
    with prediction.image.file.open("rb") as fh:
        data = fh.read()
    return image_export_png(image=image_decode(data=data), max_side=max_side)


def out_dir_prepare(*, out_dir: Path) -> Path:
    """Create OUT/images; refuse a folder that already holds files."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} is not empty: export into a new folder.")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    return out_dir


def reviewed_export(
    *,
    site: Site,
    out_dir: Path,
    since: datetime | None = None,
    max_side: int = 1024,
    actor: Any = None,
) -> ExportSummary:
    """Write the site's reviewed cases (reviewed since `since`) to `out_dir`; audit it."""
    out_dir_prepare(out_dir=out_dir)
    summary = ExportSummary(
        site=site.slug,
        since=since.isoformat() if since else None,
        created_utc=timezone.now().isoformat(),
    )
    labels: Counter[str] = Counter()
    splits: Counter[str] = Counter()
    with open(out_dir / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        for prediction in reviewed_predictions_iter(site_id=site.pk, since=since):
            file = f"images/{prediction.image_id}.png"
            try:
                png = _png_of(prediction=prediction, max_side=max_side)
            except (ImageError, OSError):
                summary.unreadable += 1
                continue
            (out_dir / file).write_bytes(png)
            rows, agreement = _rows_of(prediction=prediction, site=site, file=file)
            writer.writerows(rows)
            summary.images += 1
            summary.rows += len(rows)
            summary.disagreements += agreement == "disagree"
            labels.update(r["label"] for r in rows)
            splits[rows[0]["split"]] += 1
    summary.labels, summary.splits = dict(labels), dict(splits)
    (out_dir / "export.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    audit_record(actor=actor, action="reviewed.export", obj=site, detail=asdict(summary))
    return summary
