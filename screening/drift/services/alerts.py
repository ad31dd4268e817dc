"""Raise, extend, close and acknowledge drift alerts; tell the admins once per alert.

The rule: a figure of a site and model that was outside its band on each of the last
CXR_DRIFT_ALERT_DAYS days that count for it (taken over enough images; within the last
CXR_DRIFT_LOOKBACK_DAYS days), the latest of them the day evaluated, raises one alert. While
it stays out the alert's last day moves on; the first counted day back in band closes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.utils import timezone

from mlcore.drift import FIGURES
from screening.drift.models import DriftAlert, SiteDay
from screening.drift.reference import Band, figure_band, min_count_of, reference_of
from screening.services.audit import RequestMeta, audit_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """A counted day's figure against its band."""

    day: date
    value: float
    band: Band

    @property
    def out(self) -> bool:
        return not self.band.holds(value=self.value)


def figure_verdicts(
    *, days: list[SiteDay], figure: str, reference: dict[str, Any] | None
) -> list[Verdict]:
    """Return the figure's verdicts on the days that count for it, newest first."""
    spec = next(f for f in FIGURES if f.name == figure)
    verdicts = []
    for site_day in sorted(days, key=lambda d: d.day, reverse=True):
        n, value = getattr(site_day, spec.count), getattr(site_day, figure)
        if value is None or n < min_count_of(spec=spec):
            continue
        band = figure_band(reference=reference, figure=figure, n=n)
        if band is not None:
            verdicts.append(Verdict(site_day.day, float(value), band))
    return verdicts


def drift_run_of(*, verdicts: list[Verdict], day: date, run_days: int) -> list[Verdict] | None:
    """Return the run of out-of-band days ending on `day` once it is `run_days` long."""
    if not verdicts or verdicts[0].day != day:
        return None
    run = verdicts[:run_days]
    if len(run) < run_days or not all(v.out for v in run):
        return None
    return run


def alerts_evaluate(*, site_id: int, model_name: str, day: date) -> list[DriftAlert]:
    """Raise, extend or close the site's alerts for the model on `day`; return those raised.

    Raising sends no mail: `alerts_unsent_notify` does, once the days in hand are judged (a
    backfill mails only what is still open).
    """
    since = day - timedelta(days=settings.CXR_DRIFT_LOOKBACK_DAYS - 1)
    days = list(
        SiteDay.objects.filter(site_id=site_id, model_name=model_name, day__gte=since, day__lte=day)
    )
    reference = reference_of(model_name=model_name)
    raised = []
    with transaction.atomic():
        live = {
            a.figure: a
            for a in DriftAlert.objects.select_for_update().filter(
                site_id=site_id, model_name=model_name, status__in=DriftAlert.LIVE_STATUSES
            )
        }
        for spec in FIGURES:
            verdicts = figure_verdicts(days=days, figure=spec.name, reference=reference)
            if not verdicts or verdicts[0].day != day:
                continue  # the day does not count for this figure: nothing changes
            latest, alert = verdicts[0], live.get(spec.name)
            if alert is not None:
                _alert_follow(alert=alert, latest=latest)
                continue
            run = drift_run_of(verdicts=verdicts, day=day, run_days=settings.CXR_DRIFT_ALERT_DAYS)
            if run is not None:
                raised.append(
                    _alert_raise(site_id=site_id, model_name=model_name, figure=spec.name, run=run)
                )
    return raised


def _alert_follow(*, alert: DriftAlert, latest: Verdict) -> None:
    """Move a live alert on with a day still out, or close it with a day back in band."""
    if latest.day < alert.last_day:
        return
    if not latest.out:
        alert.status, alert.closed_day = DriftAlert.Status.CLOSED, latest.day
        alert.save(update_fields=["status", "closed_day"])
        return
    alert.last_day, alert.value = latest.day, latest.value
    alert.band_low, alert.band_high = latest.band.low, latest.band.high
    alert.save(update_fields=["last_day", "value", "band_low", "band_high"])


def _alert_raise(*, site_id: int, model_name: str, figure: str, run: list[Verdict]) -> DriftAlert:
    latest = run[0]
    return DriftAlert.objects.create(
        site_id=site_id,
        model_name=model_name,
        figure=figure,
        first_day=run[-1].day,
        last_day=latest.day,
        value=latest.value,
        band_low=latest.band.low,
        band_high=latest.band.high,
        band_source=latest.band.source,
    )


def alerts_unsent_notify() -> int:
    """Mail the admins each site's open alerts not mailed yet, one mail a site; count them.

    An alert is mailed once: raised now, or left over when the mail server was down.
    """
    pending = DriftAlert.objects.filter(notified__isnull=True, status=DriftAlert.Status.OPEN)
    site_ids = sorted(set(pending.values_list("site_id", flat=True)))
    return sum(alerts_notify(site_id=site_id) for site_id in site_ids)


def alerts_notify(*, site_id: int) -> int:
    """Mail the site's open alerts not mailed yet in one mail; return how many it told of."""
    with transaction.atomic():
        alerts = list(
            DriftAlert.objects.select_for_update()
            .select_related("site")
            .filter(site_id=site_id, notified__isnull=True, status=DriftAlert.Status.OPEN)
            .order_by("figure")
        )
        ids = [a.id for a in alerts]
        # Claimed before sending: a concurrent run finds nothing left to mail.
        DriftAlert.objects.filter(id__in=ids).update(notified=timezone.now())
    if not alerts:
        return 0
    try:
        _alerts_mail(alerts=alerts)
    except Exception:  # the mail server may be down: the next run tries again
        logger.exception("Could not email drift alerts %s", ids)
        DriftAlert.objects.filter(id__in=ids).update(notified=None)
        return 0
    return len(alerts)


def _alerts_mail(*, alerts: list[DriftAlert]) -> None:
    site = alerts[0].site
    titles = ", ".join(a.figure_title for a in alerts)
    subject = f"[cxrscreen] Drift at {site.name}: {titles}"[:200]
    lines = [
        f"- {a.figure_title} (model {a.model_name}) was outside its band from {a.first_day} "
        f"to {a.last_day}: {a.value:.3g} against {a.band_low:.3g} to {a.band_high:.3g} "
        f"({a.band_source} band)."
        for a in alerts
    ]
    body = (
        f"Site {site.name} ({site.slug}):\n"
        + "\n".join(lines)
        + "\n\nThe images this site sends may differ from those the model was made on. Look "
        "at the site's drift page (/drift/) and acknowledge the alerts there.\n"
    )
    recipients = list(
        get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    else:
        mail_admins(subject, body)


def alert_acknowledge(*, alert: DriftAlert, actor: Any, meta: RequestMeta | None = None) -> bool:
    """Acknowledge an open alert (its banner goes); say whether it was open. Audited."""
    with transaction.atomic():
        locked = DriftAlert.objects.select_for_update().get(id=alert.id)
        if locked.status != DriftAlert.Status.OPEN:
            return False
        locked.status = DriftAlert.Status.ACKNOWLEDGED
        locked.acknowledged, locked.acknowledged_by = timezone.now(), actor
        locked.save(update_fields=["status", "acknowledged", "acknowledged_by"])
        audit_record(
            actor=actor,
            action="drift.alert_acknowledge",
            obj=locked,
            meta=meta,
            detail={"site": locked.site_id, "figure": locked.figure, "model": locked.model_name},
        )
    return True
