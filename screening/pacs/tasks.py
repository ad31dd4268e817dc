"""Celery tasks: send a PACS study's results (retried with back-off), and a periodic sweep."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db.models import F, Q

from screening.models import Study
from screening.pacs.client import PacsSendError, pacs_configured
from screening.pacs.models import PacsPeer, PacsStudyLink
from screening.pacs.results import results_failed_record, results_send

logger = logging.getLogger(__name__)

RETRYABLE = (PacsSendError, DatabaseOperationalError, InterfaceError, OSError, TimeoutError)


def retry_delay(*, retries: int) -> float:
    """Return the wait before retry number `retries` + 1: doubling, capped."""
    base = float(settings.CXR_PACS_RETRY_DELAY_S)
    return min(float(settings.CXR_PACS_RETRY_MAX_DELAY_S), base * (2**retries))


@shared_task(bind=True, name="pacs.results_send", acks_late=True, ignore_result=True)
def pacs_results_send(self, study_id: str) -> str:
    """Send one study's result objects; safe to run any number of times."""
    try:
        return results_send(study_id=study_id)
    except RETRYABLE as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if self.request.retries >= settings.CXR_PACS_MAX_RETRIES:
            logger.error("Gave up sending results of study %s: %s", study_id, reason)
            results_failed_record(study_id=study_id, reason=f"gave up: {reason}")
            return "gave up"
        delay = retry_delay(retries=self.request.retries)
        logger.warning("Results of study %s not sent (%s); retry in %.0fs", study_id, reason, delay)
        results_failed_record(study_id=study_id, reason=reason)
        raise self.retry(exc=exc, countdown=delay, max_retries=None) from exc


@shared_task(name="pacs.results_sweep", ignore_result=True)
def pacs_results_sweep() -> int:
    """Queue finished PACS studies whose results were never sent or changed since (beat)."""
    due = PacsStudyLink.objects.filter(study__status=Study.Status.DONE).filter(
        Q(results_sent__isnull=True) | Q(study__updated__gt=F("results_sent"))
    )
    if not pacs_configured():  # only studies whose results go back by C-STORE
        due = due.filter(peer__results_by=PacsPeer.ResultsBy.DIMSE)
    study_ids = [str(pk) for pk in due.values_list("study_id", flat=True)[:500]]
    for study_id in study_ids:
        pacs_results_send.delay(study_id)
    return len(study_ids)
