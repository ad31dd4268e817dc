"""Reviews: a reviewer confirms or corrects a finished prediction's finding.

The finding is the screening decision (Prediction.finding; the argmax label of a prediction
made before operating points): what the reader was shown and what the case history lists.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from screening.models import REVIEW_NOTE_MAX_LENGTH, Label, Prediction, Review
from screening.permissions import study_scope_kind, user_may_review
from screening.services.audit import RequestMeta, audit_record
from screening.services.errors import ReviewError
from screening.services.studies import study_status_refresh
from screening.services.text import text_clean


def review_record(
    *,
    prediction: Prediction,
    reviewer: Any,
    verdict: str,
    label: str | None,
    note: str = "",
    meta: RequestMeta | None = None,
) -> Review:
    """Record (or update) `reviewer`'s verdict on a finished prediction."""
    label = review_label_check(
        prediction=prediction, reviewer=reviewer, verdict=verdict, label=label
    )
    note = text_clean(text=note or "")[:REVIEW_NOTE_MAX_LENGTH]
    with transaction.atomic():
        review, created = Review.objects.update_or_create(
            prediction=prediction,
            reviewer=reviewer,
            defaults={"verdict": verdict, "label": label, "note": note},
        )
        audit_record(
            actor=reviewer,
            action="review.create" if created else "review.update",
            obj=review,
            meta=meta,
            detail={"prediction": str(prediction.id), "verdict": verdict, "label": label},
        )
        study_status_refresh(study=prediction.image.study)
    return review


def review_label_check(
    *, prediction: Prediction, reviewer: Any, verdict: str, label: str | None
) -> str:
    """Return the label the review holds correct, or raise ReviewError."""
    if not user_may_review(user=reviewer):
        raise ReviewError("Only reviewers may review predictions.", code="forbidden")
    if study_scope_kind(user=reviewer) == "site" and (
        prediction.image.study.site_id != reviewer.site_id
    ):
        raise ReviewError("Reviewers review their own site's studies only.", code="forbidden")
    if prediction.status != Prediction.Status.DONE:
        raise ReviewError("Only finished predictions with a label can be reviewed.")
    if verdict not in Review.Verdict.values:
        choices = ", ".join(Review.Verdict.values)
        raise ReviewError(f"Unknown verdict {verdict!r}: choose one of {choices}.")
    if label in (None, ""):
        if verdict == Review.Verdict.DISAGREE:
            raise ReviewError("Say which label is correct when you disagree.")
        label = prediction.finding
    if label not in Label.values:
        raise ReviewError(f"Unknown label {label!r}: choose one of {', '.join(Label.values)}.")
    if verdict == Review.Verdict.AGREE and label != prediction.finding:
        raise ReviewError("An agreeing review keeps the screening decision.")
    if verdict == Review.Verdict.DISAGREE and label == prediction.finding:
        raise ReviewError("A disagreeing review names a different label.")
    return label
