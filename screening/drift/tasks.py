"""Celery tasks of the drift watch: thin wrappers around its services."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from screening.drift.services import drift_days_compute


@shared_task(name="drift.days_compute", ignore_result=True)
def days_compute(until: str | None = None) -> int:
    """Recompute yesterday's and today's figures and judge their alerts (celery beat).

    `until`: an ISO date standing for today; safe to re-run.
    """
    today = date.fromisoformat(until) if until else timezone.localdate()
    return drift_days_compute(since=today - timedelta(days=1), until=today)
