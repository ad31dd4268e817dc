"""/metrics: Prometheus's text format, for admins and the monitoring group only."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from screening.drift.models import DriftAlert
from screening.drift.services import site_days_compute
from tests.factories import PASSWORD, PredictionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def scraper(db):
    user = UserFactory(username="prometheus")
    user.groups.add(Group.objects.get(name="monitoring"))
    return user


def test_anonymous_and_wrong_passwords_get_a_basic_challenge(client, scraper):
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")
    assert client.get("/metrics", **_basic("prometheus", "wrong")).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic !!!").status_code == 401


def test_users_without_the_permission_are_refused(client, reviewer, clinician):
    assert client.get("/metrics", **_basic(reviewer.username)).status_code == 403
    client.force_login(clinician)
    assert client.get("/metrics").status_code == 403


def test_the_exposition_holds_each_sites_figures(client, sites, people, screened, scraper):
    north, _ = sites
    today = timezone.localdate()
    screened(owner=people["north_clinician"], day=today, n=3, gate_distance=0.8)
    PredictionFactory(
        rejected=True, model_name="tiny", image__study__owner=people["north_clinician"]
    )
    site_days_compute(day=today)
    DriftAlert.objects.create(
        site=north, model_name="tiny", figure="refused_share", first_day=today, last_day=today,
        value=0.25, band_low=0, band_high=0.15, band_source="settings",
    )  # fmt: skip

    response = client.get("/metrics", **_basic("prometheus"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }

    def sample(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"site": "north", **labels}.items())))]

    assert sample("cxr_images_screened_total", model="tiny") == 4
    assert sample("cxr_images_refused_total", model="tiny", reason="lateral view") == 1
    assert sample("cxr_refused_share", model="tiny") == 0.25
    assert sample("cxr_gate_distance", model="tiny", quantile="0.5") == 0.8
    assert sample("cxr_class_share", model="tiny", label="pneumonia") == 1.0
    assert sample("cxr_covid_probability_mean", model="tiny") == pytest.approx(0.1)
    assert sample("cxr_drift_day_images", model="tiny") == 4
    assert sample("cxr_drift_alerts", status="open") == 1
    # An admin may read it too, signed in or by basic auth.
    client.force_login(people["admin"])
    assert client.get("/metrics").status_code == 200


def test_create_user_makes_a_scraper_account_that_reads_metrics_only(client):
    from django.core.management import call_command

    call_command("create_user", username="prom", password="a-Long-pass-2026", role="monitoring")
    auth = _basic("prom", "a-Long-pass-2026")
    assert client.get("/metrics", **auth).status_code == 200
    from portal.accounts.models import User

    client.force_login(User.objects.get(username="prom"))
    for path in ("/studies/", "/api/v1/studies/", "/submit/"):
        answer = client.get(path)
        assert answer.status_code == 403 and "only read /metrics" in answer.json()["detail"]
    assert client.get("/metrics").status_code == 200  # signed in, by session


def test_a_scraper_reads_metrics_with_a_bearer_token_that_does_not_expire(
    client, scraper, reviewer, settings
):
    from datetime import timedelta

    from rest_framework.authtoken.models import Token

    settings.CXR_API_TOKEN_LIFETIME_S = 60
    scraper.set_unusable_password()  # the token alone: no password is checked per scrape
    scraper.save()
    token = Token.objects.create(user=scraper)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=30))
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token.key}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    other = Token.objects.create(user=reviewer)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {other.key}").status_code == 403
