"""A study's derived fields: status, labels found and whether anyone reviewed it."""

from __future__ import annotations

from django.db import transaction

from screening.models import Prediction, Review, Study


def study_status_refresh(*, study: Study) -> Study:
    """Derive the study's status: done once every image's current prediction is final.

    The study row is locked first: two workers finishing the last two images of one study
    at once would otherwise each still see the other's prediction running (PostgreSQL, read
    committed) and both leave the study "processing".
    """
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        current = Prediction.objects.filter(image__study=locked, is_current=True)
        pending = current.exclude(status__in=Prediction.FINAL_STATUSES)
        status = Study.Status.PROCESSING if pending.exists() else Study.Status.DONE
        found = set(current.exclude(label="").values_list("label", flat=True))
        labels = "".join(f"|{label}" for label in sorted(found)) + "|" if found else ""
        reviewed = Review.objects.filter(prediction__in=current).exists()
        if (locked.status, locked.labels, locked.reviewed) != (status, labels, reviewed):
            locked.status, locked.labels, locked.reviewed = status, labels, reviewed
            locked.save(update_fields=["status", "labels", "reviewed", "updated"])
    study.status, study.labels, study.reviewed = locked.status, locked.labels, locked.reviewed
    study.updated = locked.updated
    return study
