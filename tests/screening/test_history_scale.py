"""The case history at scale: counts that stop early, and a query count that never grows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from screening import pagination
from screening.models import Study
from tests.factories import PredictionFactory
from tests.support.api import api_client_for

pytestmark = pytest.mark.django_db


def _studies(*, owner, count: int) -> None:
    for _ in range(count):
        PredictionFactory(done=True, image__study__owner=owner)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_count_stops_at_the_cap(client, clinician, monkeypatch):
    _studies(owner=clinician, count=4)
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    paginator = pagination.CountCappedPaginator(Study.objects.all(), 2)
    assert paginator.count == 4 and paginator.count_capped
    client.force_login(clinician)
    html = client.get(reverse("screening:history")).content.decode()
    assert "More than 3 studies" in html
    body = api_client_for(clinician).get("/api/v1/studies/?page_size=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    monkeypatch.setattr(pagination, "COUNT_CAP", 10)
    assert "4 studies" in client.get(reverse("screening:history")).content.decode()


@pytest.mark.parametrize("url", ["/studies/", "/studies/?label=pneumonia", "/api/v1/studies/"])
def test_history_and_api_list_run_a_constant_number_of_queries(client, reviewer, url):
    other = reviewer.__class__.objects.create(username="clin-many")
    _studies(owner=other, count=2)
    client.force_login(reviewer)
    api = api_client_for(reviewer)
    get = api if url.startswith("/api/") else client
    few = _queries(get, url)
    _studies(owner=other, count=30)
    assert _queries(get, url) == few, url
    assert _queries(get, url + ("&" if "?" in url else "?") + "page=2") == few


def test_the_api_list_pages_by_key_and_walks_every_study_once(clinician):
    """`next` carries a cursor: each page is read from its key (no OFFSET), however deep."""
    _studies(owner=clinician, count=7)
    api = api_client_for(clinician)
    seen, url, offsets = [], "/api/v1/studies/?page_size=3", []
    while url:
        with CaptureQueriesContext(connection) as captured:
            body = api.get(url).json()
        listing = [q["sql"] for q in captured if 'FROM "screening_study"' in q["sql"]]
        offsets += [sql for sql in listing if "OFFSET" in sql.upper()]
        assert body["count"] == 7
        seen += [study["id"] for study in body["results"]]
        url = body["next"]
    expected = [
        str(i) for i in Study.objects.order_by("-created", "-id").values_list("id", flat=True)
    ]
    assert seen == expected
    assert not offsets, offsets
    numbered = api.get("/api/v1/studies/?page=3&page_size=3").json()  # counted pages still work
    assert numbered["count"] == 7 and [s["id"] for s in numbered["results"]] == expected[6:]
