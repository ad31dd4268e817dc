"""End to end: a site sent films of another kind raises its alert on the configured day; a
site sent its usual films raises none. Real submissions, a real Celery worker and the tiny
fixture model; the screened images are then spread over the days by their timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from screening.drift.models import DriftAlert, SiteDay
from screening.drift.services import drift_days_compute
from screening.models import Image, Prediction, Study
from screening.services import study_submit
from tests.drift.conftest import days_back, moment
from tests.support.drift_films import drifted_film_png, usual_film_png
from tests.support.images import upload
from tests.support.worker import until, worker_running

PER_DAY = 8
DAYS = 3


def _studies_submit(*, owner, film, seed_base: int) -> list[Study]:
    """One study of PER_DAY films per day, through the submission service."""
    return [
        study_submit(
            owner=owner,
            files=[
                upload(f"film-{i}.png", film(seed=seed_base + day * 100 + i))
                for i in range(PER_DAY)
            ],
        )
        for day in range(DAYS)
    ]


def _all_final(studies: list[Study]) -> bool:
    rows = Prediction.objects.filter(image__study__in=studies)
    return rows.count() == len(studies) * PER_DAY and all(p.is_final for p in rows)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_other_films_raise_the_sites_alert_and_usual_films_none(
    tmp_path: Path, sites, people, tiny_model, settings, client
):
    settings.CXR_DRIFT_ALERT_DAYS = DAYS
    settings.CXR_DRIFT_MIN_IMAGES = 5
    north, south = sites
    from tests.factories import UserFactory

    south_clinician = UserFactory(username="s-clin", role="clinician", site=south)
    log = tmp_path / "worker.log"
    with worker_running(log_path=log, **tiny_model) as worker:
        drifted = _studies_submit(
            owner=people["north_clinician"], film=drifted_film_png, seed_base=5000
        )
        usual = _studies_submit(owner=south_clinician, film=usual_film_png, seed_base=7000)
        until(
            lambda: _all_final(drifted + usual),
            timeout=300,
            interval=0.5,
            message="every film screened",
        )
        assert worker.poll() is None, log.read_text()[-3000:]
    assert not Prediction.objects.filter(status=Prediction.Status.FAILED).exists()
    assert not Prediction.objects.filter(gate_distance__isnull=True).exists()

    days = days_back(today=timezone.localdate(), count=DAYS)
    for day, studies in zip(days, zip(drifted, usual, strict=True), strict=True):
        at = moment(day=day)
        Study.objects.filter(id__in=[s.id for s in studies]).update(created=at)
        Image.objects.filter(study__in=studies).update(created=at)
        Prediction.objects.filter(image__study__in=studies).update(created=at)

    for number, day in enumerate(days, start=1):
        drift_days_compute(since=day, until=day)  # what the beat task does that day
        alerts = list(DriftAlert.objects.all())
        if number < DAYS:
            assert not alerts, f"alert before the window closed, on day {number}"
    assert SiteDay.objects.filter(site=north).count() == DAYS
    assert SiteDay.objects.filter(site=south).count() == DAYS
    (alert,) = DriftAlert.objects.filter(figure="side_median")
    assert (alert.site, alert.first_day, alert.last_day) == (north, days[0], days[-1])
    assert alert.value == 128.0 and alert.band_source == "reference"
    assert not DriftAlert.objects.filter(site=south).exists()
    assert len(mail.outbox) == 1 and "North Hospital" in mail.outbox[0].subject

    call_command("drift_compute", "--since", days[0].isoformat())  # a backfill re-run
    assert len(mail.outbox) == 1 and not DriftAlert.objects.filter(site=south).exists()

    client.force_login(people["north_reviewer"])
    page = client.get(reverse("screening:history")).content.decode()
    assert 'data-testid="drift-banner"' in page and "Longer image side" in page
    client.force_login(people["south_reviewer"])
    assert "drift-banner" not in client.get(reverse("screening:history")).content.decode()
