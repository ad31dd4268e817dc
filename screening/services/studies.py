"""A study's derived fields: status, findings (decisions) and whether anyone reviewed it."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef

from screening.models import Prediction, Review, Study


def study_status_refresh(*, study: Study) -> Study:
    """Derive the study's status: done once every image's current prediction is final.

    The study row is locked first: two workers finishing the last two images of one study
    at once would otherwise each still see the other's prediction running (PostgreSQL, read
    committed) and both leave the study "processing". One query reads what is derived.
    """
    with transaction.atomic(savepoint=False):
        locked = Study.objects.select_for_update().get(pk=study.pk)
        current = (
            Prediction.objects.filter(image__study=locked, is_current=True)
            .annotate(reviewed=Exists(Review.objects.filter(prediction=OuterRef("pk"))))
            .values_list("status", "decision", "label", "reviewed")
        )
        rows = list(current)
        pending = any(row[0] not in Prediction.FINAL_STATUSES for row in rows)
        status = Study.Status.PROCESSING if pending else Study.Status.DONE
        found = {Prediction.finding_of(decision=row[1], label=row[2]) for row in rows} - {""}
        labels = "".join(f"|{label}" for label in sorted(found)) + "|" if found else ""
        reviewed = any(row[3] for row in rows)
        if (locked.status, locked.labels, locked.reviewed) != (status, labels, reviewed):
            locked.status, locked.labels, locked.reviewed = status, labels, reviewed
            locked.save(update_fields=["status", "labels", "reviewed", "updated"])
    study.status, study.labels, study.reviewed = locked.status, locked.labels, locked.reviewed
    study.updated = locked.updated
    return study
