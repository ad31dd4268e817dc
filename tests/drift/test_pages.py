"""The drift pages: who may see which site, the charts, acknowledging, and the banner."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from screening.drift.models import DriftAlert
from screening.drift.services import site_days_compute
from screening.models import AuditEvent
from tests.drift.conftest import days_back

pytestmark = pytest.mark.django_db


def _alert(*, site, status=DriftAlert.Status.OPEN) -> DriftAlert:
    today = timezone.localdate()
    return DriftAlert.objects.create(
        site=site, model_name="tiny", figure="side_median", first_day=today, last_day=today,
        value=128.0, band_low=220.0, band_high=366.0, band_source="reference", status=status,
    )  # fmt: skip


def test_clinicians_are_refused_and_anonymous_sent_to_log_in(client, sites, people):
    client.force_login(people["north_clinician"])
    assert client.get(reverse("drift:index")).status_code == 403
    assert client.get(reverse("drift:site", kwargs={"slug": "north"})).status_code == 403
    client.logout()
    response = client.get(reverse("drift:site", kwargs={"slug": "north"}))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_reviewer_watches_their_own_site_only(client, sites, people):
    _, south = sites
    client.force_login(people["north_reviewer"])
    response = client.get(reverse("drift:index"))
    assert response.status_code == 302 and response["Location"].endswith("/drift/north/")
    assert client.get(reverse("drift:site", kwargs={"slug": "north"})).status_code == 200
    assert client.get(reverse("drift:site", kwargs={"slug": "south"})).status_code == 404
    other = _alert(site=south)
    url = reverse("drift:alert_acknowledge", kwargs={"alert_id": other.id})
    assert client.post(url).status_code == 404
    other.refresh_from_db()
    assert other.status == "open"


def test_an_admin_watches_every_site(client, sites, people):
    _, south = sites
    _alert(site=south)
    client.force_login(people["admin"])
    page = client.get(reverse("drift:index")).content.decode()
    assert "North Hospital" in page and "South Clinic" in page
    assert client.get(reverse("drift:site", kwargs={"slug": "south"})).status_code == 200


def test_the_site_page_draws_each_figure_over_its_band(client, sites, people, screened):
    today = timezone.localdate()
    for day in days_back(today=today, count=3):
        screened(owner=people["north_clinician"], day=day, n=3, gate_distance=0.9)
        site_days_compute(day=day)
    client.force_login(people["north_reviewer"])
    page = client.get(reverse("drift:site", kwargs={"slug": "north"})).content.decode()
    # The tiny fixture model is not in the registry here: the settings' bands stand in.
    assert 'data-testid="drift-no-reference"' in page
    assert 'data-testid="drift-chart-gate_distance_median"' in page
    assert 'data-testid="drift-chart-share_covid"' in page  # shown, not watched
    assert page.count('data-testid="drift-band"') >= 3
    main = page.split("<main>")[1].split("</main>")[0]
    assert main.count("<circle") >= 3 * 5 and "<script" not in main


def test_the_site_page_names_the_models_reference(client, sites, people, screened, tiny_model):
    screened(owner=people["north_clinician"], day=timezone.localdate(), n=3)
    site_days_compute(day=timezone.localdate())
    client.force_login(people["north_reviewer"])
    page = client.get(reverse("drift:site", kwargs={"slug": "north"})).content.decode()
    assert "Reference: 120 val films" in page and "drift-no-reference" not in page


def test_acknowledging_clears_the_banner_and_is_audited(client, sites, people):
    north, _ = sites
    alert = _alert(site=north)
    client.force_login(people["north_reviewer"])
    page = client.get(reverse("screening:history")).content.decode()
    assert 'data-testid="drift-banner"' in page and "Longer image side" in page
    url = reverse("drift:alert_acknowledge", kwargs={"alert_id": alert.id})
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("/drift/north/")
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == people["north_reviewer"]
    assert AuditEvent.objects.filter(action="drift.alert_acknowledge", object_id=str(alert.id))
    page = client.get(reverse("screening:history")).content.decode()
    assert "drift-banner" not in page


def test_the_banner_is_for_the_drifting_site_only(client, sites, people):
    north, _ = sites
    _alert(site=north)
    client.force_login(people["south_reviewer"])
    assert "drift-banner" not in client.get(reverse("screening:history")).content.decode()
    client.force_login(people["admin"])
    page = client.get(reverse("screening:history")).content.decode()
    assert 'data-testid="drift-banner"' in page and "1 open alert at 1 site" in page
    client.force_login(people["north_clinician"])
    page = client.get(reverse("screening:history")).content.decode()
    assert 'data-testid="drift-banner-gentle"' in page and "Longer image side" not in page


def test_the_admin_lists_days_and_alerts_read_only(client, sites, people, screened):
    north, _ = sites
    screened(owner=people["north_clinician"], day=timezone.localdate(), n=1)
    site_days_compute(day=timezone.localdate())
    alert = _alert(site=north)
    client.force_login(people["admin"])
    for name in ("siteday", "driftalert"):
        assert client.get(reverse(f"admin:drift_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:drift_{name}_add")).status_code == 403
    page = client.get(reverse("admin:drift_driftalert_change", args=[alert.pk])).content.decode()
    assert "Longer image side" in page and 'name="_save"' not in page
