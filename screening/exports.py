"""The case history as CSV: one row per image, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from screening.models import Study
from screening.selectors import image_current_prediction

CSV_COLUMNS = (
    "study_id", "reference", "owner", "study_status", "created", "image_id", "position",
    "original_name", "format", "prediction_status", "label", "p_covid", "p_pneumonia",
    "p_normal", "model_name", "model_version", "reason", "reviews", "review_verdicts",
    # Appended, so a spreadsheet reading the earlier columns by place still works.
    "decision", "operating_point", "covid_min", "pneumonia_min", "evidence_in_lungs",
    "evidence_outside_lungs",
)  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_safe(value) -> str:
    """Return `value` as text that a spreadsheet never reads as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def studies_csv_lines(*, studies: Iterable[Study]) -> Iterator[str]:
    """Yield the header and one CSV line per image of `studies` (prefetched by the selectors)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for study in studies:
        for image in study.images.all():
            prediction = image_current_prediction(image=image)
            cells = _study_cells(study=study, image=image) + _prediction_cells(
                prediction=prediction
            )
            yield writer.writerow(cells)


def _study_cells(*, study: Study, image) -> list:
    return [
        study.pk,
        csv_safe(study.reference),
        csv_safe(study.owner.username),
        study.status,
        study.created.isoformat(),
        image.pk,
        image.position,
        csv_safe(image.original_name),
        image.format,
    ]


def _prediction_cells(*, prediction) -> list:
    if prediction is None:
        return ["", "", "", "", "", "", "", "", 0, "", "", "", "", "", "", ""]
    probabilities = prediction.probabilities or {}
    thresholds = prediction.thresholds or {}
    reviews = list(prediction.reviews.all())
    return [
        prediction.status,
        prediction.label,
        probabilities.get("covid", ""),
        probabilities.get("pneumonia", ""),
        probabilities.get("normal", ""),
        prediction.model_name,
        prediction.model_version,
        csv_safe(prediction.reason),
        len(reviews),
        ";".join(r.verdict for r in reviews),
        prediction.decision,
        csv_safe(prediction.operating_point),
        thresholds.get("covid_min", ""),
        thresholds.get("pneumonia_min", ""),
        "" if prediction.evidence_in_lungs is None else prediction.evidence_in_lungs,
        "yes" if prediction.evidence_outside_lungs else "",
    ]
