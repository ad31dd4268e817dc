"""Writes of the drift watch: daily figures (days), alerts (alerts), and the two together."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from screening.drift.services.alerts import (
    alert_acknowledge,
    alerts_evaluate,
    alerts_notify,
    alerts_unsent_notify,
)
from screening.drift.services.days import reviewed_days, site_days_compute

__all__ = [
    "alert_acknowledge",
    "alerts_evaluate",
    "alerts_notify",
    "alerts_unsent_notify",
    "drift_days_compute",
    "reviewed_days_compute",
    "site_days_compute",
]


def drift_days_compute(*, since: date, until: date, site_id: int | None = None) -> int:
    """Compute each day's figures from `since` to `until` in order, then judge its alerts.

    Return how many alerts were raised. Safe to re-run over the same days.
    """
    raised = 0
    day = since
    while day <= until:
        for site_day in site_days_compute(day=day, site_id=site_id):
            raised += len(
                alerts_evaluate(site_id=site_day.site_id, model_name=site_day.model_name, day=day)
            )
        day += timedelta(days=1)
    alerts_unsent_notify()
    return raised


def reviewed_days_compute(*, since: datetime, before: date) -> list[date]:
    """Recompute the figures of earlier days reviewed since `since` (no alerts: those judge
    the latest day); return the days."""
    days = reviewed_days(since=since, before=before)
    for day in days:
        site_days_compute(day=day)
    return days
