"""The alert rule: N counted days out of band raise one alert, mailed once; ack; close."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from screening.drift.models import DriftAlert, SiteDay
from screening.drift.reference import figure_band
from screening.drift.services import alert_acknowledge, drift_days_compute
from screening.models import AuditEvent
from tests.drift.conftest import days_back

pytestmark = pytest.mark.django_db

REFERENCE = {
    "figures": {
        "gate_distance_median": {"value": 1.0, "se1": 0.3, "n": 1000},
        "gate_distance_p90": {"value": 1.5, "se1": 0.5, "n": 1000},
        "side_median": {"value": 300.0, "se1": 40.0, "n": 1000},
    }
}


@pytest.fixture(autouse=True)
def drift_settings(settings, monkeypatch):
    settings.CXR_DRIFT_ALERT_DAYS = 3
    settings.CXR_DRIFT_MIN_IMAGES = 4
    settings.CXR_DRIFT_BAND_Z = 3.0
    monkeypatch.setattr("screening.drift.services.alerts.reference_of", lambda **kw: REFERENCE)
    return settings


def test_band_from_the_reference_and_from_settings(settings):
    band = figure_band(reference=REFERENCE, figure="gate_distance_median", n=9)
    assert (band.low, band.high) == pytest.approx((0.7, 1.3)) and band.source == "reference"
    wide = figure_band(reference=REFERENCE, figure="side_median", n=4)
    assert (wide.low, wide.high) == (225.0, 375.0)  # a quarter of 300 beats 3 x 40 / 2
    fallback = figure_band(reference=None, figure="refused_share", n=50)
    assert (fallback.low, fallback.high, fallback.source) == (0.0, 0.15, "settings")
    assert figure_band(reference=None, figure="share_covid", n=50) is None  # not watched
    assert figure_band(reference=REFERENCE, figure="share_covid", n=50) is None


def test_three_days_out_raise_one_alert_and_one_mail(sites, people, screened):
    north, _ = sites
    today = timezone.localdate()
    first, second, third = days_back(today=today, count=3)
    for day in (first, second, third):
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=2.5)

    assert drift_days_compute(since=first, until=second) == 0  # two days: not yet
    assert not DriftAlert.objects.exists() and not mail.outbox
    assert drift_days_compute(since=third, until=third) == 2
    alerts = {a.figure: a for a in DriftAlert.objects.all()}
    assert set(alerts) == {"gate_distance_median", "gate_distance_p90"}
    alert = alerts["gate_distance_median"]
    assert (alert.site, alert.status) == (north, "open")
    assert (alert.first_day, alert.last_day, alert.value) == (first, third, 2.5)
    assert alert.band_low < 1.0 < alert.band_high < 2.5 and alert.band_source == "reference"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["boss@example.org"]
    assert "North Hospital" in mail.outbox[0].subject and "2.5" in mail.outbox[0].body
    assert "Gate distance, 90th percentile" in mail.outbox[0].body  # one mail tells both

    drift_days_compute(since=first, until=third)  # re-run: nothing new
    assert DriftAlert.objects.count() == 2 and len(mail.outbox) == 1


def test_an_alert_moves_on_while_out_then_closes_back_in_band(sites, people, screened):
    today = timezone.localdate()
    days = days_back(today=today, count=5)
    for day in days[:4]:
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=2.5)
    screened(owner=people["north_clinician"], day=days[4], n=5, gate_distance=1.0)
    drift_days_compute(since=days[0], until=days[3])
    alert = DriftAlert.objects.get(figure="gate_distance_median")
    assert (alert.first_day, alert.last_day) == (days[0], days[3])
    drift_days_compute(since=days[4], until=days[4])
    alert.refresh_from_db()
    assert alert.status == DriftAlert.Status.CLOSED and alert.closed_day == days[4]
    assert len(mail.outbox) == 1


def test_thin_days_do_not_count_and_do_not_break_the_run(sites, people, screened):
    today = timezone.localdate()
    days = days_back(today=today, count=4)
    for day in (days[0], days[1], days[3]):
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=2.5)
    screened(owner=people["north_clinician"], day=days[2], n=2, gate_distance=1.0)  # thin
    drift_days_compute(since=days[0], until=days[2])
    assert not DriftAlert.objects.exists()
    drift_days_compute(since=days[3], until=days[3])
    alert = DriftAlert.objects.get(figure="gate_distance_median")
    assert (alert.first_day, alert.last_day) == (days[0], days[3])


def test_a_day_back_in_band_resets_the_run(sites, people, screened):
    today = timezone.localdate()
    days = days_back(today=today, count=4)
    for day, distance in zip(days, (2.5, 1.0, 2.5, 2.5), strict=True):
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=distance)
    drift_days_compute(since=days[0], until=days[3])
    assert not DriftAlert.objects.exists()


def test_a_site_within_its_bands_raises_nothing(sites, people, screened):
    today = timezone.localdate()
    days = days_back(today=today, count=5)
    for day in days:
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=1.1)
    drift_days_compute(since=days[0], until=days[-1])
    assert SiteDay.objects.count() == 5
    assert not DriftAlert.objects.exists() and not mail.outbox


def test_acknowledging_is_audited_and_a_mail_that_failed_is_sent_later(
    sites, people, screened, monkeypatch
):
    today = timezone.localdate()
    days = days_back(today=today, count=3)
    for day in days:
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=2.5)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("screening.drift.services.alerts.send_mail", refuse)
    drift_days_compute(since=days[0], until=days[-1])
    alert = DriftAlert.objects.get(figure="gate_distance_median")
    assert alert.notified is None and not mail.outbox
    monkeypatch.undo()
    drift_days_compute(since=today, until=today)
    alert.refresh_from_db()
    assert alert.notified is not None and len(mail.outbox) == 1

    reviewer = people["north_reviewer"]
    assert alert_acknowledge(alert=alert, actor=reviewer) is True
    assert alert_acknowledge(alert=alert, actor=reviewer) is False
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == reviewer
    event = AuditEvent.objects.get(action="drift.alert_acknowledge")
    assert event.actor == reviewer and event.object_id == str(alert.id)
    # Still out the next day: the acknowledged alert moves on, with no new alert or mail.
    screened(owner=people["north_clinician"], day=today + timedelta(days=1), n=5, gate_distance=3)
    drift_days_compute(since=today + timedelta(days=1), until=today + timedelta(days=1))
    alert.refresh_from_db()
    assert DriftAlert.objects.count() == 2 and alert.last_day == today + timedelta(days=1)
    assert len(mail.outbox) == 1


def test_without_a_reference_the_settings_bands_watch(sites, people, screened, monkeypatch):
    monkeypatch.setattr("screening.drift.services.alerts.reference_of", lambda **kw: None)
    today = timezone.localdate()
    days = days_back(today=today, count=3)
    for day in days:
        screened(owner=people["north_clinician"], day=day, n=5, gate_distance=1.6)
    drift_days_compute(since=days[0], until=days[-1])
    alert = DriftAlert.objects.get()  # the median's fallback band ends at 1.3, the p90's 1.8
    assert alert.band_source == "settings" and (alert.band_low, alert.band_high) == (0.0, 1.3)
