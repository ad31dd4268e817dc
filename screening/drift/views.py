"""The drift pages: reviewers watch their own site, admins every site; nobody else."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from screening.drift import selectors
from screening.drift.charts import chart_frame, site_charts
from screening.drift.permissions import user_may_watch, user_watches_all
from screening.drift.services import alert_acknowledge
from screening.services.audit import request_meta_from


def _watcher_require(*, request: HttpRequest) -> None:
    if not user_may_watch(user=request.user):
        raise PermissionDenied("Reviewers and admins only.")


@login_required
@require_GET
def drift_index(request: HttpRequest) -> HttpResponse:
    """Admins: every site and its live alerts; a reviewer goes to their own site's page."""
    _watcher_require(request=request)
    if not user_watches_all(user=request.user):
        return redirect("drift:site", slug=request.user.site.slug)
    sites = selectors.sites_watched(user=request.user)
    return render(request, "drift/index.html", {"sites": sites})


@login_required
@require_GET
def drift_site(request: HttpRequest, slug: str) -> HttpResponse:
    """A site's last days per model, each figure over its reference band, and its alerts."""
    _watcher_require(request=request)
    site = selectors.site_get_watched(user=request.user, slug=slug)
    today, days = timezone.localdate(), settings.CXR_DRIFT_DAYS_SHOWN
    per_model = selectors.site_days_recent(site=site)
    references = selectors.references_of(model_names=list(per_model))
    models = [
        {
            "name": name,
            "reference": references[name],
            "charts": site_charts(
                site_days=site_days, reference=references[name], today=today, days=days
            ),
            "latest": site_days[-1],
        }
        for name, site_days in per_model.items()
    ]
    context = {
        "site": site,
        "models": models,
        "alerts": selectors.site_alerts(site=site),
        "frame": chart_frame(today=today, days=days),
        "days": days,
        "alert_days": settings.CXR_DRIFT_ALERT_DAYS,
        "min_images": settings.CXR_DRIFT_MIN_IMAGES,
    }
    return render(request, "drift/site.html", context)


@login_required
@require_POST
def drift_alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Acknowledge an open alert of a watched site (audited); its banner goes away.

    An alert of a site the user may not watch does not exist for them (404, never 403).
    """
    alert = selectors.alert_get_watched(user=request.user, alert_id=alert_id)
    if alert_acknowledge(alert=alert, actor=request.user, meta=request_meta_from(request=request)):
        messages.success(request, f"Alert acknowledged: {alert.figure_title}.")
    return redirect("drift:site", slug=alert.site.slug)
