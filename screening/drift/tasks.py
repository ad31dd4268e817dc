"""Celery tasks of the drift watch: thin wrappers around its services."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from screening.drift.services import drift_days_compute, reviewed_days_compute

# Earlier days reviewed within this long are recomputed at every beat; after a longer
# outage of beat, `manage.py drift_compute --since` backfills.
REVIEWS_LOOKBACK = timedelta(days=1)


@shared_task(name="drift.days_compute", ignore_result=True)
def days_compute(until: str | None = None) -> int:
    """Recompute yesterday's and today's figures and judge their alerts, and refresh earlier
    days reviewed in the last day (celery beat).

    `until`: an ISO date standing for today; safe to re-run.
    """
    today = date.fromisoformat(until) if until else timezone.localdate()
    yesterday = today - timedelta(days=1)
    reviewed_days_compute(since=timezone.now() - REVIEWS_LOOKBACK, before=yesterday)
    return drift_days_compute(since=yesterday, until=today)
