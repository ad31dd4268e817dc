"""The REST API: shapes, disclaimer, auth (token + session), scoping (404), filters, errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from screening.models import AuditEvent, Prediction, Review, Study
from screening.services import prediction_execute, review_record
from tests.factories import PASSWORD, PredictionFactory
from tests.support.images import dicom_data, fake_png, png_upload, upload
from tests.support.screener import FakeResult

pytestmark = pytest.mark.django_db

DISCLAIMER = settings.CXR_DISCLAIMER
PREDICTION_KEYS = {
    "id", "status", "label", "probabilities", "model", "accepted", "reason", "error",
    "heatmap_url", "image_url", "decision", "operating_point", "evidence_in_lungs",
    "evidence_outside_lungs",
}  # fmt: skip


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def current(study: Study) -> list[Prediction]:
    return list(
        Prediction.objects.filter(image__study=study, is_current=True).order_by("image__position")
    )


@pytest.fixture
def done_study(done_prediction):
    """A clinician's study whose only prediction finished."""
    return done_prediction.image.study


# --------------------------------------------------------------------------- auth


def test_token_obtain_and_use(clinician, submit):
    submit()
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": clinician.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires", "disclaimer"} and body["disclaimer"] == DISCLAIMER
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    listing = client.get("/api/v1/studies/")
    assert listing.status_code == 200 and listing.json()["count"] == 1


def test_token_wrong_password_is_refused_with_disclaimer(clinician):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": clinician.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["disclaimer"] == DISCLAIMER
    assert "Unable to log in" in response.json()["detail"]


def test_token_locked_out_by_axes(clinician, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = APIClient()
    for _ in range(2):
        client.post(
            "/api/v1/auth/token/", {"username": clinician.username, "password": "x"}, format="json"
        )
    response = client.post(
        "/api/v1/auth/token/", {"username": clinician.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert "token" not in response.json() and response.json()["disclaimer"] == DISCLAIMER


@pytest.mark.parametrize("body", ['{"username": "a"', "[1, 2]", '{"username": 1}'])
def test_token_bad_input_is_400(body):
    response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] and response.json()["disclaimer"] == DISCLAIMER


def test_session_auth_works(client, clinician, submit):
    study = submit()
    client.force_login(clinician)
    assert client.get(f"/api/v1/studies/{study.id}/").status_code == 200
    # Session writes need the CSRF token, like any Django form.
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(clinician)
    refused = csrf_client.post("/api/v1/studies/", {"images": [png_upload()]}, format="multipart")
    assert refused.status_code == 403


def test_anonymous_is_401_with_disclaimer(submit):
    study = submit()
    for url in ("/api/v1/studies/", f"/api/v1/studies/{study.id}/"):
        response = APIClient().get(url)
        assert response.status_code == 401
        assert response.json()["disclaimer"] == DISCLAIMER


# --------------------------------------------------------------------------- studies


def test_submit_returns_study_shape(clinician, enqueued):
    response = client_for(clinician).post(
        "/api/v1/studies/",
        {"images": [png_upload("one.png"), png_upload("two.png", seed=2)], "reference": "R-1"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == [
        "id", "reference", "status", "created", "disclaimer", "images", "origin",
    ]  # fmt: skip
    assert body["origin"] == "upload"
    assert body["reference"] == "R-1" and body["status"] == "processing"
    assert body["disclaimer"] == DISCLAIMER
    assert [i["filename"] for i in body["images"]] == ["one.png", "two.png"]
    image = body["images"][0]
    assert set(image) == {"id", "filename", "format", "prediction"}
    assert image["format"] == "png"
    prediction = image["prediction"]
    assert set(prediction) == PREDICTION_KEYS
    assert prediction["status"] == "queued" and prediction["accepted"] is None
    assert prediction["label"] is None and prediction["probabilities"] is None
    assert prediction["heatmap_url"] is None
    assert prediction["image_url"] == f"http://testserver/api/v1/images/{image['id']}/file/"
    assert set(prediction["model"]) == {"name", "version"}
    assert len(enqueued) == 0 or len(enqueued) == 2  # on_commit does not run in a test txn


def test_submit_bad_file_is_400_naming_it(clinician, enqueued):
    response = client_for(clinician).post(
        "/api/v1/studies/",
        {"images": [png_upload("ok.png"), upload("evil.png", b"<html>hi</html>")]},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert "evil.png" in body["detail"] and body["code"] == "not_an_image"
    assert body["filename"] == "evil.png" and body["disclaimer"] == DISCLAIMER
    assert not Study.objects.exists()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ({}, "multipart"),
        ({"reference": "x"}, "multipart"),
        ({"images": "not-a-file"}, "multipart"),
        ({"images": []}, "json"),
        ({"images": ["a"], "reference": ["x", "y"]}, "json"),
    ],
)
def test_submit_missing_or_wrong_input_is_400(clinician, enqueued, data, fmt):
    response = client_for(clinician).post("/api/v1/studies/", data, format=fmt)
    assert response.status_code == 400
    assert response.json()["detail"] and response.json()["disclaimer"] == DISCLAIMER


def test_submit_too_many_files_in_request_is_400(clinician, enqueued, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = client_for(clinician).post(
        "/api/v1/studies/", {"images": [png_upload(seed=i) for i in range(3)]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["disclaimer"] == DISCLAIMER
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 50
    settings.CXR_MAX_FILES_PER_STUDY = 2
    response = client_for(clinician).post(
        "/api/v1/studies/", {"images": [png_upload(seed=i) for i in range(3)]}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["code"] == "too_many_files"
    assert not Study.objects.exists()


def test_submit_dicom_via_api(clinician, enqueued):
    data = dicom_data(patient={"PatientName": "Doe^Jane", "PatientID": "MRN-777"})
    response = client_for(clinician).post(
        "/api/v1/studies/", {"images": [upload("x.dcm", data, "application/dicom")]},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["images"][0]["format"] == "dicom"
    assert body["reference"].startswith("CXR-") and "MRN-777" not in body["reference"]


def test_submit_malformed_json_is_400(clinician):
    response = client_for(clinician).post(
        "/api/v1/studies/", '{"images": [', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_submit_too_long_reference_is_400(clinician, enqueued):
    response = client_for(clinician).post(
        "/api/v1/studies/", {"images": [png_upload()], "reference": "x" * 65}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("reference:")


def test_list_is_paginated_scoped_and_carries_disclaimer(
    clinician, other_clinician, reviewer, admin_user, submit
):
    mine = [submit() for _ in range(3)]
    submit(owner=other_clinician)
    body = client_for(clinician).get("/api/v1/studies/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert body["disclaimer"] == DISCLAIMER
    assert {r["id"] for r in body["results"]} <= {str(s.id) for s in mine}
    assert body["results"][0]["disclaimer"] == DISCLAIMER
    for staff in (reviewer, admin_user):
        assert client_for(staff).get("/api/v1/studies/").json()["count"] == 4


def test_list_filters(clinician, reviewer, submit, fake_screener):
    a = submit(reference="ALPHA-1")
    b = submit(reference="beta-2")
    c = submit(reference="gamma-3")
    prediction_execute(prediction_id=current(a)[0].id)
    fake_screener.result = FakeResult(label="normal")
    prediction_execute(prediction_id=current(b)[0].id)
    review_record(prediction=current(a)[0], reviewer=reviewer, verdict="agree", label=None)
    Study.objects.filter(id=c.id).update(created=timezone.now() - timedelta(days=10))
    client = client_for(clinician)

    def ids(query: str) -> set[str]:
        response = client.get(f"/api/v1/studies/?{query}")
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert ids("label=pneumonia") == {str(a.id)}
    assert ids("label=normal") == {str(b.id)}
    assert ids("status=done") == {str(a.id), str(b.id)}
    assert ids("status=processing") == {str(c.id)}
    assert ids("reviewed=true") == {str(a.id)}
    assert ids("reviewed=false") == {str(b.id), str(c.id)}
    assert ids("reference=alpha") == {str(a.id)}
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert ids(f"created_after={since}") == {str(a.id), str(b.id)}
    assert ids(f"created_before={since}") == {str(c.id)}


@pytest.mark.parametrize("query", ["label=cancer", "status=x", "created_after=yesterday"])
def test_list_bad_filter_is_400(clinician, query):
    response = client_for(clinician).get(f"/api/v1/studies/?{query}")
    assert response.status_code == 400
    assert response.json()["detail"] and response.json()["disclaimer"] == DISCLAIMER


def test_detail_done_shape(clinician, done_study):
    body = client_for(clinician).get(f"/api/v1/studies/{done_study.id}/").json()
    assert body["status"] == "done"
    prediction = body["images"][0]["prediction"]
    assert prediction["status"] == "done" and prediction["accepted"] is True
    assert prediction["label"] == "pneumonia"
    assert prediction["probabilities"] == {"covid": 0.1, "pneumonia": 0.7, "normal": 0.2}
    assert prediction["model"] == {"name": "fake-model", "version": "9.9.9"}
    assert prediction["heatmap_url"] == (
        f"http://testserver/api/v1/predictions/{prediction['id']}/heatmap/"
    )
    assert prediction["reason"] is None and prediction["error"] is None


def test_detail_rejected_and_failed(clinician, submit, fake_screener):
    fake_screener.result = FakeResult(
        accepted=False, reason="not a chest X-ray", label=None, probabilities=None,
        overlay_jpeg=None,
    )  # fmt: skip
    study = submit(files=[png_upload(seed=1), png_upload(seed=2)])
    rejected, failed = current(study)
    prediction_execute(prediction_id=rejected.id)
    from screening.services import prediction_fail

    prediction_fail(prediction_id=failed.id, reason="The model is unavailable: gone")
    body = client_for(clinician).get(f"/api/v1/studies/{study.id}/").json()
    first, second = (i["prediction"] for i in body["images"])
    assert first["accepted"] is False and first["reason"] == "not a chest X-ray"
    assert first["error"] is None and first["heatmap_url"] is None
    assert second["status"] == "failed" and second["error"] == "The model is unavailable: gone"


# --------------------------------------------------------------------------- scoping: 404


def test_other_clinician_gets_404_everywhere(other_clinician, done_study):
    prediction = current(done_study)[0]
    client = client_for(other_clinician)
    urls = [
        f"/api/v1/studies/{done_study.id}/",
        f"/api/v1/predictions/{prediction.id}/",
        f"/api/v1/predictions/{prediction.id}/heatmap/",
        f"/api/v1/images/{prediction.image_id}/file/",
        f"/api/v1/images/{prediction.image_id}/thumbnail/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["disclaimer"] == DISCLAIMER
    review = client.post(
        f"/api/v1/predictions/{prediction.id}/review/", {"verdict": "agree"}, format="json"
    )
    assert review.status_code == 404
    assert client.get("/api/v1/studies/").json()["count"] == 0
    assert not AuditEvent.objects.filter(actor=other_clinician).exists()


def test_unknown_ids_and_paths_are_json_404(clinician):
    client = client_for(clinician)
    assert client.get(f"/api/v1/studies/{uuid.uuid4()}/").status_code == 404
    response = client.get("/api/v1/studies/not-a-uuid/")
    assert response.status_code == 404 and response.json()["disclaimer"] == DISCLAIMER


def test_reviewer_and_admin_see_files(reviewer, admin_user, done_study):
    prediction = current(done_study)[0]
    for user in (reviewer, admin_user):
        client = client_for(user)
        assert client.get(f"/api/v1/studies/{done_study.id}/").status_code == 200
        heatmap = client.get(f"/api/v1/predictions/{prediction.id}/heatmap/")
        assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/jpeg"


# --------------------------------------------------------------------------- files


def test_image_file_streams_and_audits(client, clinician, done_study):
    image = done_study.images.get()
    client.force_login(clinician)  # a session, as an <img> tag in the web UI has
    response = client.get(f"/api/v1/images/{image.id}/file/", HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"]
    with image.file.open("rb") as handle:
        assert b"".join(response.streaming_content) == handle.read()
    download = client.get(f"/api/v1/images/{image.id}/file/?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    actions = set(AuditEvent.objects.filter(actor=clinician).values_list("action", flat=True))
    assert {"image.view", "image.download"} <= actions
    thumb = client.get(f"/api/v1/images/{image.id}/thumbnail/")
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content).startswith(b"\x89PNG")


def test_heatmap_streams_and_audits(clinician, done_study):
    prediction = current(done_study)[0]
    response = client_for(clinician).get(f"/api/v1/predictions/{prediction.id}/heatmap/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8")
    assert AuditEvent.objects.filter(action="heatmap.view", object_id=str(prediction.id)).exists()


def test_heatmap_stored_as_png_is_served_as_png(clinician):
    prediction = PredictionFactory(done=True, image__study__owner=clinician)
    prediction.heatmap.save("heatmap.png", ContentFile(fake_png()))
    response = client_for(clinician).get(f"/api/v1/predictions/{prediction.id}/heatmap/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert prediction.heatmap.name.endswith("-heatmap.png")
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_heatmap_missing_is_404(clinician, submit):
    prediction = current(submit())[0]
    response = client_for(clinician).get(f"/api/v1/predictions/{prediction.id}/heatmap/")
    assert response.status_code == 404


def test_s3_storage_redirects_to_signed_url(clinician, done_study, monkeypatch):
    from screening import storage

    image = done_study.images.get()
    monkeypatch.setattr(storage, "storage_is_remote", lambda field_file: True)
    monkeypatch.setattr(
        type(image.file.storage),
        "url",
        lambda self, name, parameters=None, expire=None: f"https://s3.example/{name}?sig={expire}",
        raising=False,
    )
    response = client_for(clinician).get(f"/api/v1/images/{image.id}/file/")
    assert response.status_code == 302
    assert response["Location"] == f"https://s3.example/{image.file.name}?sig=300"


# --------------------------------------------------------------------------- predictions, reviews


def test_prediction_detail(clinician, done_study):
    prediction = current(done_study)[0]
    body = client_for(clinician).get(f"/api/v1/predictions/{prediction.id}/").json()
    assert set(body) >= PREDICTION_KEYS
    assert body["study"] == str(done_study.id) and body["reviews"] == []
    assert body["disclaimer"] == DISCLAIMER


def test_review_by_reviewer(reviewer, done_study):
    prediction = current(done_study)[0]
    client = client_for(reviewer)
    url = f"/api/v1/predictions/{prediction.id}/review/"
    response = client.post(url, {"verdict": "disagree", "label": "normal", "note": "ok"}, "json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["verdict"] == "disagree" and body["label"] == "normal"
    assert body["reviewer"] == reviewer.username and body["disclaimer"] == DISCLAIMER
    again = client.post(url, {"verdict": "agree"}, format="json")
    assert again.status_code == 200 and again.json()["label"] == "pneumonia"
    detail = client.get(f"/api/v1/predictions/{prediction.id}/").json()
    assert len(detail["reviews"]) == 1


def test_review_by_clinician_on_own_is_403(clinician, done_study):
    prediction = current(done_study)[0]
    response = client_for(clinician).post(
        f"/api/v1/predictions/{prediction.id}/review/", {"verdict": "agree"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["disclaimer"] == DISCLAIMER
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "maybe"},
        {"verdict": "disagree"},
        {"verdict": "agree", "label": "cancer"},
        {"verdict": ["agree"]},
        {"verdict": "agree", "note": {"x": 1}},
        {},
    ],
)
def test_review_bad_input_is_400(reviewer, done_study, body):
    prediction = current(done_study)[0]
    response = client_for(reviewer).post(
        f"/api/v1/predictions/{prediction.id}/review/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_review_malformed_json_is_400(reviewer, done_study):
    prediction = current(done_study)[0]
    response = client_for(reviewer).post(
        f"/api/v1/predictions/{prediction.id}/review/", "{oops", content_type="application/json"
    )
    assert response.status_code == 400


def test_review_of_unfinished_is_400(reviewer, submit):
    prediction = current(submit())[0]
    response = client_for(reviewer).post(
        f"/api/v1/predictions/{prediction.id}/review/", {"verdict": "agree"}, format="json"
    )
    assert response.status_code == 400


# --------------------------------------------------------------------------- schema, docs


def test_schema_and_docs(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/studies/" in schema.content and b"openapi: 3" in schema.content
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "<script>" not in html  # the CSP allows no inline script
    script = client.get(reverse("api:docs") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


def test_detail_is_byte_for_byte_what_the_serializer_gives(
    clinician, submit, fake_screener, done_prediction, rf
):
    """The detail answers from a plain function: pin it to StudyOutputSerializer's output."""
    import json

    from screening.api.serializers import StudyOutputSerializer, study_output_data
    from screening.selectors import study_get_for

    fake_screener.result = FakeResult(
        accepted=False, reason="not a chest X-ray", label=None, probabilities=None,
        overlay_jpeg=None,
    )  # fmt: skip
    mixed = submit(files=[png_upload(seed=1), png_upload(seed=2), png_upload(seed=3)])
    rejected, failed, _queued = current(mixed)
    prediction_execute(prediction_id=rejected.id)
    from screening.services import prediction_fail

    prediction_fail(prediction_id=failed.id, reason="gone")
    context = {"request": rf.get("/")}
    for study in (mixed, done_prediction.image.study):
        full = study_get_for(user=clinician, study_id=study.pk)
        light = study_get_for(user=clinician, study_id=study.pk, reviews=False)
        expected = json.dumps(StudyOutputSerializer(full, context=context).data)
        assert json.dumps(study_output_data(study=light, context=context)) == expected
        body = client_for(clinician).get(f"/api/v1/studies/{study.pk}/").content
        assert json.loads(body) == json.loads(expected)
