"""The audit log records every submission, view, download, review and admin change; it is
append-only, even for a superuser in the admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse

from screening.models import AuditEvent, Study
from tests.support.api import api_client_for
from tests.support.images import png_upload

pytestmark = pytest.mark.django_db


def _events(action: str, actor, obj_id) -> int:
    return AuditEvent.objects.filter(
        action=action, actor=actor, object_id=str(obj_id), actor_username=actor.username
    ).count()


def test_submissions_are_audited_through_web_and_api(client, clinician, enqueued):
    client.force_login(clinician)
    response = client.post(
        reverse("screening:study_create"),
        {"files": [png_upload()]},
        HTTP_USER_AGENT="pytest-web",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    web_study = Study.objects.get()
    event = AuditEvent.objects.get(action="study.submit", object_id=str(web_study.pk))
    assert event.actor == clinician and event.ip_address == "10.1.2.3"
    assert event.user_agent == "pytest-web" and event.detail["images"] == 1
    response = api_client_for(clinician).post(
        "/api/v1/studies/", {"images": [png_upload()]}, format="multipart"
    )
    assert response.status_code == 201
    assert _events("study.submit", clinician, response.json()["id"]) == 1


def test_every_view_and_download_is_audited(client, clinician, reviewer, done_prediction):
    p, image, study = done_prediction, done_prediction.image, done_prediction.image.study
    client.force_login(clinician)
    api = api_client_for(reviewer)
    checks = [
        (client, f"/studies/{study.pk}/", "study.view", clinician, study.pk),
        (client, f"/images/{image.pk}/thumbnail/", "thumbnail.view", clinician, image.pk),
        (client, f"/predictions/{p.pk}/heatmap/", "heatmap.view", clinician, p.pk),
        (api, f"/api/v1/studies/{study.pk}/", "study.view", reviewer, study.pk),
        (api, f"/api/v1/predictions/{p.pk}/", "prediction.view", reviewer, p.pk),
        (api, f"/api/v1/images/{image.pk}/file/", "image.view", reviewer, image.pk),
        (api, f"/api/v1/images/{image.pk}/file/?download=1", "image.download", reviewer, image.pk),
        (api, f"/api/v1/images/{image.pk}/thumbnail/", "thumbnail.view", reviewer, image.pk),
        (api, f"/api/v1/predictions/{p.pk}/heatmap/", "heatmap.view", reviewer, p.pk),
    ]
    for http, url, action, actor, obj_id in checks:
        before = _events(action, actor, obj_id)
        assert http.get(url).status_code == 200, url
        assert _events(action, actor, obj_id) == before + 1, (url, action)
    before = AuditEvent.objects.count()
    client.get(reverse("screening:history") + "?format=csv")
    assert AuditEvent.objects.filter(action="studies.export").count() == 1
    assert AuditEvent.objects.count() == before + 1


def test_refused_access_is_not_recorded_as_a_view(client, other_clinician, done_prediction):
    client.force_login(other_clinician)
    assert client.get(f"/studies/{done_prediction.image.study_id}/").status_code == 404
    assert not AuditEvent.objects.filter(actor=other_clinician).exists()


def test_reviews_are_audited_through_web_and_api(client, reviewer, admin_user, done_prediction):
    client.force_login(reviewer)
    response = client.post(f"/predictions/{done_prediction.pk}/review/", {"verdict": "agree"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="review.create", actor=reviewer).count() == 1
    response = api_client_for(reviewer).post(
        f"/api/v1/predictions/{done_prediction.pk}/review/",
        {
            "verdict": "disagree",
            "label": "normal" if done_prediction.label != "normal" else "covid",
        },
        format="json",
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="review.update", actor=reviewer).count() == 1
    response = api_client_for(admin_user).post(
        f"/api/v1/predictions/{done_prediction.pk}/review/", {"verdict": "agree"}, format="json"
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="review.create", actor=admin_user)
    assert event.detail["prediction"] == str(done_prediction.pk)


def test_admin_changes_are_audited(client, admin_user, done_prediction):
    client.force_login(admin_user)
    image, study = done_prediction.image, done_prediction.image.study
    # Images are read-only in the admin (the stored file and its hash must match).
    image_url = reverse("admin:screening_image_change", args=[image.pk])
    assert client.get(image_url).status_code == 200
    assert client.post(image_url, {"original_name": "x.png"}).status_code == 403
    response = client.post(
        reverse("admin:screening_study_change", args=[study.pk]),
        {
            "reference": "RENAMED-2", "images-TOTAL_FORMS": "1", "images-INITIAL_FORMS": "1",
            "images-MIN_NUM_FORMS": "0", "images-MAX_NUM_FORMS": "1000",
            "images-0-id": str(image.pk), "images-0-study": str(study.pk),
        },
    )  # fmt: skip
    assert response.status_code == 302
    assert _events("admin.change", admin_user, study.pk) == 1
    assert not AuditEvent.objects.filter(action="admin.change", object_type="image").exists()


def test_superuser_cannot_edit_or_delete_the_audit_log(client, admin_user, clinician):
    event = AuditEvent.objects.create(actor=clinician, action="study.submit", object_type="x")
    client.force_login(admin_user)
    base = "admin:screening_auditevent"
    assert client.get(reverse(f"{base}_add")).status_code == 403
    assert client.post(reverse(f"{base}_add"), {"action": "forged"}).status_code == 403
    assert (
        client.post(reverse(f"{base}_change", args=[event.pk]), {"action": "x"}).status_code == 403
    )
    assert client.get(reverse(f"{base}_delete", args=[event.pk])).status_code == 403
    assert (
        client.post(reverse(f"{base}_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    # The bulk action is not offered, and forcing it does nothing.
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = site._registry[AuditEvent]
    assert "delete_selected" not in model_admin.get_actions(request)
    client.post(
        reverse(f"{base}_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    event.refresh_from_db()
    assert event.action == "study.submit"
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    # The change page is read-only (no save buttons).
    page = client.get(reverse(f"{base}_change", args=[event.pk])).content.decode()
    assert 'name="_save"' not in page
