"""Django admin: pages render for admin and reviewer, predictions and audit are read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from screening.models import AuditEvent, Prediction, Review, Study
from screening.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(clinician):
    return audit_record(actor=clinician, action="test.event", obj=clinician)


def _pages(prediction: Prediction, event: AuditEvent) -> list[str]:
    study = prediction.image.study
    review = Review.objects.create(
        prediction=prediction, reviewer=study.owner, verdict="agree", label=prediction.label
    )
    return [
        reverse("admin:index"),
        reverse("admin:screening_study_changelist"),
        reverse("admin:screening_study_change", args=[study.pk]),
        reverse("admin:screening_image_changelist"),
        reverse("admin:screening_image_change", args=[prediction.image_id]),
        reverse("admin:screening_prediction_changelist"),
        reverse("admin:screening_prediction_change", args=[prediction.pk]),
        reverse("admin:screening_review_changelist"),
        reverse("admin:screening_review_change", args=[review.pk]),
        reverse("admin:screening_review_add"),
        reverse("admin:screening_auditevent_changelist"),
        reverse("admin:screening_auditevent_change", args=[event.pk]),
    ]


@pytest.mark.parametrize("role", ["admin_user", "reviewer"])
def test_admin_pages_render(client, request, role, done_prediction, event):
    user = request.getfixturevalue(role)
    client.force_login(user)
    for url in _pages(done_prediction, event):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_reviewer_group_has_the_migrated_permissions(reviewer):
    codenames = set(
        Group.objects.get(name="reviewer").permissions.values_list("codename", flat=True)
    )
    assert codenames >= {
        "view_study", "view_image", "view_prediction", "view_auditevent",
        "add_review", "change_review", "view_review",
    }  # fmt: skip
    assert "change_study" not in codenames and "delete_auditevent" not in codenames


def test_clinician_has_no_admin(client, clinician):
    client.force_login(clinician)
    response = client.get(reverse("admin:screening_study_changelist"))
    assert response.status_code == 302


def test_changelist_filters_and_search(client, admin_user, done_prediction):
    client.force_login(admin_user)
    url = reverse("admin:screening_prediction_changelist")
    ref = done_prediction.image.study.reference
    for query in (
        "status__exact=done",
        "label__exact=pneumonia",
        "model_version=9.9.9",
        f"q={ref}",
    ):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 200
        assert str(done_prediction.id) in response.content.decode(), query
    response = client.get(f"{reverse('admin:screening_study_changelist')}?q={ref}")
    assert ref in response.content.decode()


def test_prediction_is_read_only(client, admin_user, done_prediction):
    client.force_login(admin_user)
    assert client.get(reverse("admin:screening_prediction_add")).status_code == 403
    url = reverse("admin:screening_prediction_change", args=[done_prediction.pk])
    page = client.get(url).content.decode()
    assert 'name="label"' not in page and 'name="status"' not in page
    # Heatmap and image previews go through the permission-checked API URLs.
    assert f"/api/v1/predictions/{done_prediction.pk}/heatmap/" in page
    assert f"/api/v1/images/{done_prediction.image_id}/thumbnail/" in page
    response = client.post(url, {"label": "covid", "status": "failed"})
    assert response.status_code == 403
    done_prediction.refresh_from_db()
    assert done_prediction.label == "pneumonia"


def test_rerun_action_creates_new_prediction_and_keeps_old(
    client, admin_user, done_prediction, enqueued
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:screening_prediction_changelist"),
        {"action": "rerun", "_selected_action": [str(done_prediction.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    predictions = Prediction.objects.filter(image=done_prediction.image).order_by("created")
    assert predictions.count() == 2
    old, new = predictions
    assert old.pk == done_prediction.pk and not old.is_current and old.status == "done"
    assert new.is_current and new.status == Prediction.Status.QUEUED
    assert AuditEvent.objects.filter(action="prediction.rerun", actor=admin_user).exists()


def test_reviewer_cannot_rerun(client, reviewer, done_prediction):
    client.force_login(reviewer)
    page = client.get(reverse("admin:screening_prediction_changelist")).content.decode()
    assert "Re-run with the current model" not in page
    client.post(
        reverse("admin:screening_prediction_changelist"),
        {"action": "rerun", "_selected_action": [str(done_prediction.pk)]},
    )
    assert Prediction.objects.filter(image=done_prediction.image).count() == 1


@pytest.mark.parametrize("role", ["admin_user", "reviewer"])
def test_audit_log_is_not_editable(client, request, role, event):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("admin:screening_auditevent_add")).status_code == 403
    change = reverse("admin:screening_auditevent_change", args=[event.pk])
    assert client.post(change, {"action": "forged"}).status_code == 403
    delete = reverse("admin:screening_auditevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "test.event"
    page = client.get(reverse("admin:screening_auditevent_changelist")).content.decode()
    assert "delete_selected" not in page


def test_admin_study_change_is_audited(client, admin_user, done_prediction):
    study = done_prediction.image.study
    client.force_login(admin_user)
    url = reverse("admin:screening_study_change", args=[study.pk])
    response = client.post(
        url,
        {
            "reference": "RENAMED-1",
            "images-TOTAL_FORMS": "1",
            "images-INITIAL_FORMS": "1",
            "images-MIN_NUM_FORMS": "0",
            "images-MAX_NUM_FORMS": "1000",
            "images-0-id": str(done_prediction.image_id),
            "images-0-study": str(study.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    study.refresh_from_db()
    assert study.reference == "RENAMED-1"
    event = AuditEvent.objects.get(action="admin.change", object_id=str(study.pk))
    assert event.actor == admin_user and event.detail == {"changed": ["reference"]}


def test_reviewer_adds_review_in_admin_as_themselves(client, reviewer, done_prediction):
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:screening_review_add"),
        {
            "prediction": str(done_prediction.pk),
            "verdict": "disagree",
            "label": "normal",
            "note": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    review = Review.objects.get()
    assert review.reviewer == reviewer
    assert AuditEvent.objects.filter(action="admin.add", object_id=str(review.pk)).exists()


def test_reviewer_cannot_change_study(client, reviewer, done_prediction):
    study = done_prediction.image.study
    client.force_login(reviewer)
    url = reverse("admin:screening_study_change", args=[study.pk])
    assert client.post(url, {"reference": "X"}).status_code == 403
    assert Study.objects.get(pk=study.pk).reference != "X"


def test_bulk_delete_of_reviews_clears_the_studys_reviewed_flag(
    client, admin_user, done_prediction
):
    from screening.services import review_record

    review_record(
        prediction=done_prediction,
        reviewer=admin_user,
        verdict="agree",
        label=done_prediction.label,
    )
    study = done_prediction.image.study
    study.refresh_from_db()
    assert study.reviewed
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:screening_review_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(r.pk) for r in Review.objects.all()],
            "post": "yes",
        },
    )
    assert response.status_code == 302 and not Review.objects.exists()
    study.refresh_from_db()
    assert not study.reviewed
    assert AuditEvent.objects.filter(action="admin.delete").exists()
