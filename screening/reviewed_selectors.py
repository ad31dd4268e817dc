"""Reads for the export of reviewed cases: a site's reviewed predictions with their reviews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch

from screening.models import Prediction, Review


def reviewed_predictions_iter(
    *, site_id: int, since: datetime | None = None, chunk_size: int = 200
) -> Iterator[Prediction]:
    """Yield the site's current done predictions reviewed since `since`, oldest study first.

    Each carries `image` (with its study) and `reviews` (all of them, oldest first).
    """
    recent = Review.objects.filter(prediction=OuterRef("pk"))
    if since is not None:
        recent = recent.filter(updated__gte=since)
    predictions = (
        Prediction.objects.filter(
            is_current=True,
            status=Prediction.Status.DONE,
            image__study__site_id=site_id,
        )
        .filter(Exists(recent))
        .select_related("image", "image__study")
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.order_by("created")))
        .order_by("image__study__created", "image__position")
    )
    yield from predictions.iterator(chunk_size=chunk_size)
