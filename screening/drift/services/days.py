"""Compute each site's daily figures per model from the day's predictions (idempotent upsert).

A day is counted in the server's time zone (TIME_ZONE, UTC) by when the prediction was made;
each image counts once, by its current prediction, when that is done or refused (a failed
one is only counted as failed). A reviewed prediction counts as agreed when every review of
it agrees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from mlcore.drift import DriftItem, figures_compute
from screening.drift.models import SiteDay
from screening.models import Prediction, Review

ROW_FIELDS = (
    "image__study__site_id", "model_name", "status", "reason", "gate_distance", "probabilities",
    "decision", "label", "image__width", "image__height", "image__format",
    "image__dicom_attributes", "n_reviews", "n_agree",
)  # fmt: skip
FIGURE_FIELDS = (
    "n_images", "n_accepted", "n_distance", "n_sized", "n_reviewed", "refused_share",
    "gate_distance_median", "gate_distance_p90", "covid_mean", "share_covid", "share_pneumonia",
    "share_normal", "side_median", "agreement", "refusal_reasons", "class_mix", "size_mix",
    "format_mix", "modality_mix", "photometric_mix",
)  # fmt: skip


def day_bounds(*, day: date) -> tuple[datetime, datetime]:
    """Return the day's start and the next day's start, in the server's time zone."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def item_of_row(*, row: dict[str, Any]) -> DriftItem:
    """The drift watch's view of one prediction row."""
    accepted = row["status"] == Prediction.Status.DONE
    attributes = row["image__dicom_attributes"] or {}
    reviews = row["n_reviews"]
    return DriftItem(
        accepted=accepted,
        reason="" if accepted else row["reason"][:120],
        gate_distance=row["gate_distance"],
        p_covid=(row["probabilities"] or {}).get("covid") if accepted else None,
        finding=Prediction.finding_of(decision=row["decision"], label=row["label"]),
        width=row["image__width"],
        height=row["image__height"],
        format=row["image__format"],
        modality=str(attributes.get("Modality", "")),
        photometric=str(attributes.get("PhotometricInterpretation", "")),
        agreed=(row["n_agree"] == reviews) if reviews else None,
    )


def day_rows(*, day: date, site_id: int | None = None) -> Iterable[dict[str, Any]]:
    """The day's final current predictions, with their image and review counts."""
    start, end = day_bounds(day=day)
    rows = Prediction.objects.filter(
        is_current=True, created__gte=start, created__lt=end, status__in=Prediction.FINAL_STATUSES
    )
    if site_id is not None:
        rows = rows.filter(image__study__site_id=site_id)
    agree = Q(reviews__verdict=Review.Verdict.AGREE)
    rows = rows.annotate(n_reviews=Count("reviews"), n_agree=Count("reviews", filter=agree))
    return rows.order_by().values(*ROW_FIELDS).iterator(chunk_size=2000)


def site_days_compute(*, day: date, site_id: int | None = None) -> list[SiteDay]:
    """Write the day's SiteDay of every site and model (of one site when given); return them.

    Safe to re-run: rows are replaced, and a site's row for a model it no longer has
    predictions of that day is removed.
    """
    items: dict[tuple[int, str], list[DriftItem]] = defaultdict(list)
    failed: dict[tuple[int, str], int] = defaultdict(int)
    for row in day_rows(day=day, site_id=site_id):
        key = (row["image__study__site_id"], row["model_name"])
        if row["status"] == Prediction.Status.FAILED:
            failed[key] += 1
        else:
            items[key].append(item_of_row(row=row))
    written = []
    with transaction.atomic():
        for key in sorted(set(items) | set(failed)):
            figures = figures_compute(items=items.get(key, []))
            site_day, _ = SiteDay.objects.update_or_create(
                site_id=key[0],
                day=day,
                model_name=key[1],
                defaults={"n_failed": failed.get(key, 0)} | {k: figures[k] for k in FIGURE_FIELDS},
            )
            written.append(site_day)
        stale = SiteDay.objects.filter(day=day)
        if site_id is not None:
            stale = stale.filter(site_id=site_id)
        stale.exclude(id__in=[s.id for s in written]).delete()
    return written


def reviewed_days(*, since: datetime, before: date) -> list[date]:
    """Days before `before` whose predictions got a review, or a changed one, since `since`.

    Reviews come days after the screen; the beat recomputes those days so that their
    agreement figure follows.
    """
    zone = timezone.get_current_timezone()
    days = (
        Review.objects.filter(updated__gte=since)
        .annotate(day=TruncDate("prediction__created", tzinfo=zone))
        .filter(day__lt=before)
        .values_list("day", flat=True)
        .distinct()
    )
    return sorted(days)
