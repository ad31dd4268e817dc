"""Reads of the drift watch: sites a user may watch, their days and alerts, the banner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from portal.accounts.models import Site
from screening.drift.models import DriftAlert, SiteDay
from screening.drift.permissions import site_scope, user_may_watch, user_watches_all
from screening.drift.reference import reference_of


def sites_watched(*, user: Any) -> QuerySet:
    """The sites `user` may watch, each with its count of live alerts."""
    live = Q(drift_alerts__status__in=DriftAlert.LIVE_STATUSES)
    return site_scope(user=user, queryset=Site.objects.all()).annotate(
        live_alerts=Count("drift_alerts", filter=live)
    )


def site_get_watched(*, user: Any, slug: str) -> Site:
    """Return the site `user` may watch; 404 for any other."""
    site = site_scope(user=user, queryset=Site.objects.filter(slug=slug)).first()
    if site is None:
        raise Http404("Not found.")
    return site


def alert_get_watched(*, user: Any, alert_id: int) -> DriftAlert:
    """Return the alert of a site `user` may watch; 404 for any other."""
    alerts = site_scope(user=user, queryset=DriftAlert.objects.all(), site_path="site_id")
    alert = alerts.select_related("site").filter(id=alert_id).first()
    if alert is None:
        raise Http404("Not found.")
    return alert


def site_days_recent(*, site: Site) -> dict[str, list[SiteDay]]:
    """The site's last CXR_DRIFT_DAYS_SHOWN days, per model, oldest first."""
    since = timezone.localdate() - timedelta(days=settings.CXR_DRIFT_DAYS_SHOWN - 1)
    days: dict[str, list[SiteDay]] = {}
    for site_day in SiteDay.objects.filter(site=site, day__gte=since).order_by("day"):
        days.setdefault(site_day.model_name, []).append(site_day)
    return days


def site_alerts(*, site: Site) -> list[DriftAlert]:
    """The site's live alerts first, then the last closed ones."""
    live = DriftAlert.objects.filter(site=site, status__in=DriftAlert.LIVE_STATUSES)
    closed = DriftAlert.objects.filter(site=site, status=DriftAlert.Status.CLOSED)
    return list(live.select_related("acknowledged_by")) + list(closed[:10])


def references_of(*, model_names: list[str]) -> dict[str, dict | None]:
    return {name: reference_of(model_name=name) for name in model_names}


def banner_for(*, user: Any) -> dict[str, Any] | None:
    """What the drift banner tells `user`: open alerts of the sites they watch, or of theirs.

    Reviewers and admins get the figures and a link; a clinician of a drifting site gets a
    gentler note (no figures: nothing there for them to act on).
    """
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_pacs_only", False):
        return None
    open_alerts = DriftAlert.objects.filter(status=DriftAlert.Status.OPEN)
    if not user_watches_all(user=user):
        open_alerts = open_alerts.filter(site_id=user.site_id)
    summary = open_alerts.aggregate(n=Count("id"), sites=Count("site", distinct=True))
    if not summary["n"]:
        return None
    if not user_may_watch(user=user):
        return {"watcher": False}
    figures = list(
        open_alerts.values("figure").annotate(last=Max("last_day")).order_by("figure")[:5]
    )
    titles = dict(DriftAlert._meta.get_field("figure").choices)
    return {
        "watcher": True,
        "count": summary["n"],
        "sites": summary["sites"],
        "all_sites": user_watches_all(user=user),
        "figures": [titles.get(f["figure"], f["figure"]) for f in figures],
    }
