"""Object-level permissions on EVERY URL that takes an id, for two clinicians and a reviewer.

The URL list comes from the resolver, so a new URL pattern is covered automatically (and fails
here until this table knows which object its id names).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.http import Http404
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse

from screening.api.views import api_not_found
from screening.models import AuditEvent, Review
from screening.selectors import image_get_for, prediction_get_for, study_get_for
from screening.services import audit_record
from tests.factories import ReviewFactory
from tests.support.api import api_client_for

pytestmark = pytest.mark.django_db

PARAM_RE = re.compile(r"(?<!\?P)<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
# Which object an id in a route names, by the route text before it (longest match wins).
OBJECT_KINDS = [
    ("admin/screening/study/", "study"), ("admin/screening/image/", "image"),
    ("admin/screening/prediction/", "prediction"), ("admin/screening/review/", "review"),
    ("admin/screening/auditevent/", "audit"), ("admin/accounts/user/", "user"),
    ("admin/auth/group/", "group"), ("admin/authtoken/token", "token"),
    ("admin/axes/", "axes"), ("admin/r/", "contenttype"),
    ("admin/pacs/pacspeer/", "pacspeer"), ("admin/pacs/pacsstudylink/", "pacslink"),
    ("admin/screening/operatingpointchoice/", "pointchoice"),
    ("admin/accounts/site/", "site"),
    ("admin/screening/modeldeployment/", "deployment"),
    ("admin/screening/shadowprediction/", "shadow"),
    ("admin/drift/siteday/", "siteday"), ("admin/drift/driftalert/", "driftalert"),
    ("drift/alerts/", "driftalert"),
    ("studies/", "study"), ("images/", "image"), ("predictions/", "prediction"),
]  # fmt: skip


def routes(patterns=None, prefix: str = "") -> list[tuple[str, str]]:
    """Every (route, name) in the project whose route takes a parameter."""
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        text = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, text)
        elif isinstance(entry, URLPattern) and PARAM_RE.search(text):
            found.append((text, entry.name or ""))
    return found


def kind_of(route: str) -> str:
    head = route[: PARAM_RE.search(route).start()]
    matches = [kind for marker, kind in OBJECT_KINDS if head.endswith(marker) or marker in head]
    assert matches, f"new URL {route!r}: add its object kind to OBJECT_KINDS"
    return matches[0]


@pytest.fixture
def world(done_prediction, clinician, other_clinician, reviewer):
    prediction, study = done_prediction, done_prediction.image.study
    review = ReviewFactory(prediction=prediction, reviewer=reviewer)
    event = audit_record(actor=clinician, action="test.event", obj=study)
    return {
        "study": study.pk, "image": prediction.image_id, "prediction": prediction.pk,
        "review": review.pk, "audit": event.pk, "user": clinician.pk,
        "group": 1, "token": "x", "axes": 1, "contenttype": 1, "pacspeer": 1, "pacslink": 1,
        "pointchoice": 1, "site": clinician.site_id, "siteday": 1,
        "deployment": 1, "shadow": 1,
        "driftalert": _drift_alert(site=clinician.site).pk,
    }  # fmt: skip


def _drift_alert(*, site):
    from django.utils import timezone

    from screening.drift.models import DriftAlert

    today = timezone.localdate()
    # An id no page prints by chance ("1" is in "<h1>"), as a page would leak it.
    return DriftAlert.objects.create(
        id=73_911, site=site, model_name="m", figure="refused_share", first_day=today,
        last_day=today, value=0.5, band_low=0.0, band_high=0.15, band_source="settings",
    )  # fmt: skip


def url_for(route: str, value) -> str:
    return "/" + PARAM_RE.sub(lambda m: str(value), route, count=1)


def _targets(world) -> list[tuple[str, str, bool]]:
    out = []
    for route, _name in routes():
        if PARAM_RE.search(route).group("conv") not in ("uuid", "path", "int", "str", None):
            continue
        kind = kind_of(route)
        if kind in ("axes", "contenttype", "token", "group") and not route.startswith("admin/"):
            continue
        if len(PARAM_RE.findall(route)) > 1:  # admin's content-type shortcut: r/<ct>/<obj>/
            continue
        if route.startswith("dicomweb/"):  # STOW names a study to store into (tests/pacs)
            continue
        out.append((url_for(route, world[kind]), kind, route.startswith("admin/")))
    return out


def _method_of(url: str) -> str:
    """The one method a screening URL with an id takes (reviews and acknowledgements are
    posted, the rest read)."""
    return "post" if url.rstrip("/").endswith(("/review", "/acknowledge")) else "get"


def test_every_id_url_is_scoped_to_who_may_see_it(world, clinician, other_clinician, reviewer):
    targets = _targets(world)
    # The table really covers the screening pages, files and API, not only the admin.
    screened = {t[0] for t in targets if not t[2]}
    assert len(screened) >= 9, screened
    owner, other, rev, anon = Client(), Client(), Client(), Client()
    owner.force_login(clinician)
    other.force_login(other_clinician)
    rev.force_login(reviewer)
    api_other = api_client_for(other_clinician)
    for url, kind, is_admin in targets:
        for method in ("get", "post"):
            r_other = getattr(other, method)(url)
            r_anon = getattr(anon, method)(url)
            if is_admin:  # clinicians have no admin at all
                assert r_other.status_code == 302 and "/admin/login/" in r_other["Location"], url
                assert r_anon.status_code == 302, url
                continue
            # A method the URL does not take is 405 for anyone; otherwise the object is hidden.
            hidden = 405 if method != _method_of(url) else 404
            assert r_other.status_code == hidden, (method, url, r_other.status_code)
            assert str(world[kind]) not in r_other.content.decode(errors="replace"), url
            anon_status = 401 if url.startswith("/api/") else 302
            assert r_anon.status_code == anon_status, (method, url, r_anon.status_code)
            if url.startswith("/api/"):
                r_api = getattr(api_other, method)(url)
                assert r_api.status_code == hidden, (method, url, r_api.status_code)
        if is_admin:
            assert rev.get(url).status_code < 500, url
            continue
        # The owner and the reviewer do see it (POST-only review URLs answer 405 to GET).
        for client, who in ((owner, "owner"), (rev, "reviewer")):
            status = client.get(url).status_code
            assert status == (405 if _method_of(url) == "post" else 200), (who, url, status)
    assert not Review.objects.exclude(reviewer=reviewer).exists()


def test_owner_sees_own_files_and_other_clinician_none(world, clinician, other_clinician):
    owner, other = Client(), Client()
    owner.force_login(clinician)
    other.force_login(other_clinician)
    image, prediction = [world["image"]], [world["prediction"]]
    files = [
        reverse("screening:image_thumbnail", args=image),
        reverse("screening:prediction_heatmap", args=prediction),
        reverse("api:image-file", args=image),
        reverse("api:image-file", args=image) + "?download=1",
        reverse("api:image-thumbnail", args=image),
        reverse("api:prediction-heatmap", args=prediction),
    ]
    for url in files:
        response = owner.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith(("image/", "application/dicom")), url
        assert b"".join(response.streaming_content)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0"), url
        assert other.get(url).status_code == 404, url


@pytest.mark.parametrize("guess", ["1", "2", "100", "0", "-1", "00000000", "1.0"])
def test_sequential_ids_are_refused_by_routes_and_selectors(guess, world, reviewer):
    """A guessed id never reaches a screening view, and the selectors refuse it as well."""
    for route, _name in routes():
        if route.startswith("admin/") or PARAM_RE.search(route).group("conv") != "uuid":
            continue
        url = url_for(route, guess)
        try:
            match = resolve(url)
        except Resolver404:
            continue  # the web routes
        assert match.func is api_not_found, url  # the API's JSON 404 for unknown paths
    lookups = ((study_get_for, "study_id"), (image_get_for, "image_id"),
               (prediction_get_for, "prediction_id"))  # fmt: skip
    for lookup, key in lookups:
        with pytest.raises(Http404):
            lookup(user=reviewer, **{key: guess})  # even for one who sees everything


def test_random_uuids_are_404(world, reviewer):
    client = Client()
    client.force_login(reviewer)
    for route, _name in routes():
        if route.startswith("admin/") or PARAM_RE.search(route).group("conv") != "uuid":
            continue
        url = url_for(route, uuid.uuid4())
        assert client.get(url).status_code == (405 if _method_of(url) == "post" else 404), url


def test_other_clinician_cannot_review_through_either_door(world, other_clinician, clinician):
    prediction = world["prediction"]
    before = Review.objects.count()
    web = Client()
    web.force_login(other_clinician)
    r = web.post(f"/predictions/{prediction}/review/", {"verdict": "agree"})
    assert r.status_code == 404  # 404 before 403: the other clinician may not see it
    r = api_client_for(other_clinician).post(
        f"/api/v1/predictions/{prediction}/review/", {"verdict": "agree"}, format="json"
    )
    assert r.status_code == 404
    r = api_client_for(clinician).post(
        f"/api/v1/predictions/{prediction}/review/", {"verdict": "agree"}, format="json"
    )
    assert r.status_code == 403  # the owner sees it but is no reviewer
    assert Review.objects.count() == before
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()
