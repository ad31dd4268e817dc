"""/metrics: the drift watch's figures in Prometheus's text format, for authorised scrapers.

Authenticated by an API token sent as `Authorization: Bearer` (what Prometheus's
`authorization` block sends; read through the same cache as the API, so a scrape costs no
password hash), by HTTP basic, or by a signed-in session, of a user holding
drift.view_metrics or an admin. Figures are read from the SiteDay rows (the beat task
refreshes them every CXR_DRIFT_INTERVAL_S), so they lag the predictions by up to that much.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import authenticate
from django.db.models import Count, Max, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rest_framework import exceptions

from mlcore.labels import LABELS
from portal.accounts.authentication import RoleReadingTokenAuthentication
from screening.drift.models import DriftAlert, SiteDay
from screening.drift.permissions import user_may_scrape

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def basic_user(*, request: HttpRequest) -> Any:
    """Return the user HTTP basic credentials name, or None (django-axes counts failures)."""
    kind, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic" or not encoded:
        return None
    try:
        username, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    return authenticate(request, username=username, password=password)


def bearer_user(*, request: HttpRequest) -> Any:
    """Return the user an `Authorization: Bearer <API token>` header names, or None."""
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        return None
    try:
        user, _token = RoleReadingTokenAuthentication().authenticate_credentials(key.strip())
    except exceptions.AuthenticationFailed:
        return None
    return user


class DriftCollector:
    """Read the latest SiteDay of each site and model, totals and live alerts, per scrape."""

    def collect(self) -> Iterator[Metric]:
        labels = ["site", "model"]
        screened = CounterMetricFamily(
            "cxr_images_screened", "Images screened (done or refused), all days", labels=labels
        )
        refused = CounterMetricFamily(
            "cxr_images_refused", "Images refused by the gate, all days", labels=[*labels, "reason"]
        )
        totals = SiteDay.objects.values("site__slug", "model_name").annotate(n=Sum("n_images"))
        for row in totals.order_by("site__slug", "model_name"):
            screened.add_metric([row["site__slug"], row["model_name"]], row["n"] or 0)
        reasons: dict[tuple[str, str, str], int] = {}
        for slug, model, mix in SiteDay.objects.values_list(
            "site__slug", "model_name", "refusal_reasons"
        ):
            for reason, count in (mix or {}).items():
                reasons[(slug, model, reason)] = reasons.get((slug, model, reason), 0) + count
        for key in sorted(reasons):
            refused.add_metric(list(key), reasons[key])
        yield screened
        yield refused
        yield from self._latest_collect()
        yield self._alerts_collect()

    def _latest_collect(self) -> Iterator[Metric]:
        labels = ["site", "model"]
        stamp = GaugeMetricFamily(
            "cxr_drift_day_timestamp_seconds", "Start of the latest day reported", labels=labels
        )
        images = GaugeMetricFamily(
            "cxr_drift_day_images", "Images screened that day", labels=labels
        )
        distance = GaugeMetricFamily(
            "cxr_gate_distance", "Gate distance quantile that day", labels=[*labels, "quantile"]
        )
        share = GaugeMetricFamily(
            "cxr_class_share", "Share of accepted images per finding", labels=[*labels, "label"]
        )
        covid = GaugeMetricFamily("cxr_covid_probability_mean", "Mean p(covid)", labels=labels)
        refused = GaugeMetricFamily("cxr_refused_share", "Share refused by the gate", labels=labels)
        agreement = GaugeMetricFamily(
            "cxr_reviewer_agreement", "Share of reviewed images agreed with", labels=labels
        )
        latest = SiteDay.objects.values("site_id", "model_name").annotate(last=Max("day"))
        wanted = {(r["site_id"], r["model_name"], r["last"]) for r in latest}
        rows = SiteDay.objects.filter(day__in={day for *_, day in wanted}).select_related("site")
        for row in rows.order_by("site__slug", "model_name"):
            if (row.site_id, row.model_name, row.day) not in wanted:
                continue
            key = [row.site.slug, row.model_name]
            stamp.add_metric(key, _day_start(day=row.day))
            images.add_metric(key, row.n_images)
            for quantile, value in (
                ("0.5", row.gate_distance_median),
                ("0.9", row.gate_distance_p90),
            ):
                _add(family=distance, labels=[*key, quantile], value=value)
            for label in LABELS:
                _add(family=share, labels=[*key, label], value=getattr(row, f"share_{label}"))
            _add(family=covid, labels=key, value=row.covid_mean)
            _add(family=refused, labels=key, value=row.refused_share)
            _add(family=agreement, labels=key, value=row.agreement)
        yield from (stamp, images, distance, share, covid, refused, agreement)

    def _alerts_collect(self) -> Metric:
        family = GaugeMetricFamily(
            "cxr_drift_alerts", "Live drift alerts", labels=["site", "status"]
        )
        rows = (
            DriftAlert.objects.filter(status__in=DriftAlert.LIVE_STATUSES)
            .values("site__slug", "status")
            .annotate(n=Count("id"))
            .order_by("site__slug", "status")
        )
        for row in rows:
            family.add_metric([row["site__slug"], row["status"]], row["n"])
        return family


def _add(*, family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, value)


def _day_start(*, day) -> float:
    from screening.drift.services.days import day_bounds

    return day_bounds(day=day)[0].timestamp()


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Answer the exposition; 401 (with a basic challenge) without credentials, 403 without
    the permission."""
    user = bearer_user(request=request) or basic_user(request=request) or request.user
    if not getattr(user, "is_authenticated", False):
        response = HttpResponse("Authentication required.\n", status=401, content_type=CONTENT_TYPE)
        response["WWW-Authenticate"] = 'Basic realm="cxrscreen metrics", charset="UTF-8"'
        return response
    if not user_may_scrape(user=user):
        return HttpResponse("Forbidden.\n", status=403, content_type=CONTENT_TYPE)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE)
