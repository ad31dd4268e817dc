"""Conditional GET and status polls: 304 on a matching ETag, only ever for a study's viewers."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from screening import services
from screening.models import AuditEvent, Prediction
from tests.support.api import api_client_for

pytestmark = pytest.mark.django_db


def _current(study) -> Prediction:
    return Prediction.objects.get(image__study=study, is_current=True)


def test_api_detail_answers_304_until_something_changes(clinician, submit, fake_screener):
    study = submit()
    api, url = api_client_for(clinician), f"/api/v1/studies/{study.pk}/"
    first = api.get(url)
    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert "private" in first["Cache-Control"] and "Authorization" in first["Vary"]
    again = api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    views = AuditEvent.objects.filter(action="study.view", object_id=str(study.pk))
    assert views.count() == 2  # the 304 is a read too

    services.prediction_execute(prediction_id=_current(study).pk)
    done = api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert done.status_code == 200 and done["ETag"] != first["ETag"]
    assert done.json()["images"][0]["prediction"]["status"] == "done"
    assert done.json()["disclaimer"]


def test_a_review_changes_the_etag(clinician, reviewer, done_prediction):
    study = done_prediction.image.study
    api, url = api_client_for(clinician), f"/api/v1/studies/{study.pk}/"
    etag = api.get(url)["ETag"]
    services.review_record(
        prediction=done_prediction, reviewer=reviewer, verdict="agree", label=None
    )
    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


@pytest.mark.parametrize("path", ["", "status/"])
def test_others_get_404_never_304(clinician, other_clinician, reviewer, submit, path):
    study = submit()
    url = f"/api/v1/studies/{study.pk}/{path}"
    etag = api_client_for(clinician).get(url)["ETag"]
    other = api_client_for(other_clinician)
    for held in (etag, "*"):
        response = other.get(url, HTTP_IF_NONE_MATCH=held)
        assert response.status_code == 404 and response.json()["disclaimer"]
    missing = other.get(f"/api/v1/studies/{uuid.uuid4()}/{path}", HTTP_IF_NONE_MATCH="*")
    assert missing.status_code == 404
    # Each viewer has their own ETag: a reviewer never gets a 304 for the owner's copy.
    assert api_client_for(reviewer).get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_status_api_is_one_query_and_answers_304(
    clinician, submit, fake_screener, django_assert_num_queries
):
    study = submit()
    api = api_client_for(clinician, token=False)
    url = reverse("api:study-status", kwargs={"pk": study.pk})
    assert not clinician.is_reviewer  # the viewer's roles: read once per request, not counted
    with django_assert_num_queries(1):
        response = api.get(url)
    body = response.json()
    prediction = _current(study)
    assert response.status_code == 200 and body["disclaimer"]
    assert body["id"] == str(study.pk) and body["status"] == "processing" and not body["final"]
    assert body["images"] == [
        {"id": str(prediction.image_id), "prediction": str(prediction.pk), "status": "queued"}
    ]
    with django_assert_num_queries(1):
        assert api.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    services.prediction_execute(prediction_id=prediction.pk)
    done = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert done.status_code == 200 and done.json()["final"] is True


def test_page_answers_304_audits_and_keeps_404_for_others(
    client, clinician, other_clinician, submit
):
    study = submit()
    url = reverse("screening:study_detail", args=[study.pk])
    client.force_login(clinician)
    client.get(url)  # sets the CSRF cookie, part of the ETag (the page holds the token)
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"]
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert AuditEvent.objects.filter(action="study.view", object_id=str(study.pk)).count() == 3
    client.force_login(other_clinician)
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 404
    assert client.get(url, HTTP_IF_NONE_MATCH="*").status_code == 404


def test_a_pending_message_is_never_answered_304(rf):
    from django.contrib import messages
    from django.contrib.messages.storage.cookie import CookieStorage

    from screening.conditional import not_modified_or_none

    request = rf.get("/", HTTP_IF_NONE_MATCH='"abc"')
    request._messages = CookieStorage(request)
    assert not_modified_or_none(request=request, etag='"abc"').status_code == 304
    messages.info(request, "Review saved.")
    assert not_modified_or_none(request=request, etag='"abc"') is None


@pytest.mark.parametrize("role", ["clinician", "reviewer"])
@pytest.mark.parametrize("token", [True, False])
def test_status_poll_reads_the_viewer_and_roles_in_one_query(
    request, role, token, submit, fake_screener, django_assert_num_queries
):
    from django.test import Client

    study = submit()  # the clinician's; a reviewer sees it too
    viewer = request.getfixturevalue(role)
    url = reverse("api:study-status", kwargs={"pk": study.pk})
    if token:
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")
    else:
        client = Client()
        client.force_login(viewer)
    from django.db import connection

    # Token (or session + user), then the status: on PostgreSQL the roles ride with the user.
    apart = connection.vendor != "postgresql"
    with django_assert_num_queries((2 if token else 3) + apart):
        response = client.get(url)
    assert response.status_code == 200 and response.json()["status"] == "processing"


def test_token_reads_cost_a_fixed_number_of_queries(
    clinician, reviewer, submit, django_assert_num_queries
):
    """Token, progress; a full read adds the audit, the study, its images, their predictions."""
    study = submit()
    for viewer in (clinician, reviewer):
        api = api_client_for(viewer)
        status_url = reverse("api:study-status", kwargs={"pk": study.pk})
        with django_assert_num_queries(2):
            etag = api.get(status_url)["ETag"]
        with django_assert_num_queries(2):
            assert api.get(status_url, HTTP_IF_NONE_MATCH=etag).status_code == 304
        detail_url = reverse("api:study-detail", kwargs={"pk": study.pk})
        with django_assert_num_queries(6):
            etag = api.get(detail_url)["ETag"]
        with django_assert_num_queries(3):  # the 304 is audited too
            assert api.get(detail_url, HTTP_IF_NONE_MATCH=etag).status_code == 304
