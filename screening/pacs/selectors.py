"""Reads for the PACS link page: each study link with what was received and where its results
stand (pending, sent, failed), and each peer with its counts."""

from __future__ import annotations

from django.db.models import Case, CharField, Count, F, Max, Q, QuerySet, Value, When

from screening.models import Study
from screening.pacs.models import PacsPeer, PacsStudyLink

PENDING, SENT, FAILED = "pending", "sent", "failed"
_UNSENT = Q(results_sent__isnull=True) | Q(study__updated__gt=F("results_sent"))


def study_links_annotated(*, links: QuerySet[PacsStudyLink]) -> QuerySet[PacsStudyLink]:
    """Annotate links with instance counts, the last instance received and `results_state`."""
    return links.select_related("study", "study__owner", "peer").annotate(
        instance_count=Count("instances", distinct=True),
        last_received=Max("instances__received"),
        results_state=Case(
            When(~Q(results_error=""), then=Value(FAILED)),
            When(_UNSENT, then=Value(PENDING)),
            default=Value(SENT),
            output_field=CharField(),
        ),
    )


def peers_annotated(*, peers: QuerySet[PacsPeer]) -> QuerySet[PacsPeer]:
    """Annotate peers with their studies, last instance received and results by state."""
    done = Q(study_links__study__status=Study.Status.DONE)
    return peers.select_related("user").annotate(
        studies=Count("study_links", distinct=True),
        last_received=Max("study_links__instances__received"),
        results_failed=Count(
            "study_links", filter=~Q(study_links__results_error=""), distinct=True
        ),
        results_pending=Count(
            "study_links",
            filter=done
            & Q(study_links__results_error="")
            & (
                Q(study_links__results_sent__isnull=True)
                | Q(study_links__study__updated__gt=F("study_links__results_sent"))
            ),
            distinct=True,
        ),
    )
