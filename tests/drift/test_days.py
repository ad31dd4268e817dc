"""A site's daily figures, computed from the day's predictions (idempotent)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from screening.drift.models import SiteDay
from screening.drift.services import site_days_compute
from screening.models import Prediction, Review
from tests.drift.conftest import moment
from tests.factories import PredictionFactory, ReviewFactory

pytestmark = pytest.mark.django_db


def test_site_day_holds_the_days_figures_per_site(sites, people, screened):
    north, south = sites
    today = timezone.localdate()
    done = screened(owner=people["north_clinician"], day=today, n=3, gate_distance=0.5)
    refused = PredictionFactory(
        rejected=True, model_name="tiny", image__study__owner=people["north_clinician"]
    )
    PredictionFactory(failed=True, model_name="tiny", image__study__owner=people["north_clinician"])
    ReviewFactory(prediction=Prediction.objects.get(id=done[0]), reviewer=people["north_reviewer"])
    ReviewFactory(
        prediction=Prediction.objects.get(id=done[1]),
        reviewer=people["north_reviewer"],
        verdict=Review.Verdict.DISAGREE,
        label="normal",
    )
    yesterday = today - timedelta(days=1)
    screened(owner=people["north_clinician"], day=yesterday, n=2)

    (row,) = site_days_compute(day=today)
    assert (row.site, row.day, row.model_name) == (north, today, "tiny")
    assert (row.n_images, row.n_accepted, row.n_failed, row.n_reviewed) == (4, 3, 1, 2)
    assert row.refused_share == 0.25 and row.refusal_reasons == {refused.reason: 1}
    assert row.gate_distance_median == 0.5  # the refused one has no distance
    assert row.share_pneumonia == 1.0 and row.class_mix == {"covid": 0, "pneumonia": 3, "normal": 0}
    assert row.covid_mean == pytest.approx(0.1)
    assert row.agreement == 0.5
    assert row.side_median == 300.0 and row.format_mix == {"png": 4}
    assert not SiteDay.objects.filter(site=south).exists()


def test_recomputing_a_day_replaces_its_row(sites, people, screened):
    today = timezone.localdate()
    ids = screened(owner=people["north_clinician"], day=today, n=2)
    site_days_compute(day=today)
    site_days_compute(day=today)
    assert SiteDay.objects.get().n_images == 2
    Prediction.objects.filter(id=ids[0]).update(created=moment(day=today - timedelta(days=3)))
    site_days_compute(day=today)
    assert SiteDay.objects.get().n_images == 1
    Prediction.objects.filter(id=ids[1]).delete()
    site_days_compute(day=today)
    assert not SiteDay.objects.exists()  # no predictions that day any more: no row


def test_drift_compute_backfills_one_site_from_a_date(sites, people, screened):
    _, south = sites
    today = timezone.localdate()
    for back in range(4):
        screened(owner=people["north_clinician"], day=today - timedelta(days=back), n=1)
    from tests.factories import UserFactory

    south_clinician = UserFactory(username="s-clin", role="clinician", site=south)
    screened(owner=south_clinician, day=today, n=1)
    since = (today - timedelta(days=2)).isoformat()
    call_command("drift_compute", "--site", "north", "--since", since)
    days = set(SiteDay.objects.values_list("site__slug", "day"))
    assert days == {("north", today - timedelta(days=b)) for b in range(3)}
    call_command("drift_compute")
    assert ("south", today) in set(SiteDay.objects.values_list("site__slug", "day"))


def test_the_beat_task_computes_yesterday_and_today(sites, people, screened, settings):
    from screening.drift.tasks import days_compute

    assert settings.CELERY_BEAT_SCHEDULE["drift-days-compute"]["task"] == "drift.days_compute"
    today = timezone.localdate()
    for back in range(3):
        screened(owner=people["north_clinician"], day=today - timedelta(days=back), n=1)
    days_compute.apply(kwargs={"until": today.isoformat()}).get()
    assert set(SiteDay.objects.values_list("day", flat=True)) == {today, today - timedelta(1)}


def test_the_beat_task_refreshes_an_earlier_day_when_its_films_are_reviewed(
    sites, people, screened
):
    from screening.drift.tasks import days_compute

    today = timezone.localdate()
    week_ago = today - timedelta(days=7)
    (old,) = screened(owner=people["north_clinician"], day=week_ago, n=1)
    call_command("drift_compute", "--since", week_ago.isoformat())
    assert SiteDay.objects.get(day=week_ago).agreement is None
    ReviewFactory(prediction=Prediction.objects.get(id=old), reviewer=people["north_reviewer"])
    days_compute.apply(kwargs={"until": today.isoformat()}).get()
    assert SiteDay.objects.get(day=week_ago).agreement == 1.0
    # A review older than a day does not bring its day back at every beat.
    Review.objects.update(updated=timezone.now() - timedelta(days=2))
    SiteDay.objects.filter(day=week_ago).update(agreement=None)
    days_compute.apply(kwargs={"until": today.isoformat()}).get()
    assert SiteDay.objects.get(day=week_ago).agreement is None
