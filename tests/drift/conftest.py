"""Two sites, each with a clinician and a reviewer, and helpers to lay down screened days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest


@pytest.fixture
def sites(db):
    from portal.accounts.models import Site

    north = Site.objects.create(slug="north", name="North Hospital")
    south = Site.objects.create(slug="south", name="South Clinic")
    return north, south


@pytest.fixture
def people(sites):
    """A clinician and a reviewer per site, and an admin (of neither in particular)."""
    from tests.factories import UserFactory

    north, south = sites
    return {
        "north_clinician": UserFactory(username="n-clin", role="clinician", site=north),
        "north_reviewer": UserFactory(username="n-rev", role="reviewer", site=north),
        "south_reviewer": UserFactory(username="s-rev", role="reviewer", site=south),
        "admin": UserFactory(username="boss", role="admin", email="boss@example.org"),
    }


def moment(*, day: date, hour: int = 10) -> datetime:
    from django.utils import timezone

    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def screened():
    """Lay down `n` predictions of a site's clinician on `day` with the given figures."""
    from screening.models import Prediction
    from tests.factories import PredictionFactory

    def lay(*, owner, day: date, n: int, gate_distance: float = 1.0, side: int = 300, **kw):
        ids = []
        for _ in range(n):
            p = PredictionFactory(
                done=True,
                model_name="tiny",
                gate_distance=gate_distance,
                image__study__owner=owner,
                image__width=side,
                image__height=side - 20,
                **kw,
            )
            ids.append(p.id)
        Prediction.objects.filter(id__in=ids).update(created=moment(day=day))
        return ids

    return lay


def days_back(*, today: date, count: int) -> list[date]:
    """The `count` days ending today, oldest first."""
    return [today - timedelta(days=count - 1 - i) for i in range(count)]
