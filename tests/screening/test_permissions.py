"""Permissions: role checks and queryset scoping."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from portal.accounts.models import Site
from screening.models import Image, Prediction, Study
from screening.permissions import study_scope, study_scope_kind, user_may_review
from screening.selectors import review_queue_for
from tests.factories import PredictionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_roles(clinician, reviewer, admin_user):
    assert study_scope_kind(user=clinician) == "own" and not user_may_review(user=clinician)
    assert study_scope_kind(user=reviewer) == "site" and user_may_review(user=reviewer)
    assert study_scope_kind(user=admin_user) == "all" and user_may_review(user=admin_user)
    assert study_scope_kind(user=AnonymousUser()) == "none"
    reviewer.is_active = False
    assert not user_may_review(user=reviewer)


def test_study_scope(clinician, other_clinician, reviewer, submit):
    mine = submit()
    theirs = submit(owner=other_clinician)
    assert list(study_scope(user=clinician, queryset=Study.objects.all())) == [mine]
    images = study_scope(
        user=other_clinician, queryset=Image.objects.all(), owner_path="study__owner"
    )
    assert list(images) == list(theirs.images.all())
    assert study_scope(user=reviewer, queryset=Study.objects.all()).count() == 2
    assert not study_scope(user=AnonymousUser(), queryset=Study.objects.all()).exists()


@pytest.fixture
def other_site_prediction():
    """A done prediction of a study made at another site than the fixtures' users'."""
    south = Site.objects.create(slug="south", name="South")
    owner = UserFactory(username="clin-south", role="clinician", site=south)
    return PredictionFactory(done=True, image__study__owner=owner)


def test_a_reviewer_sees_only_their_sites_studies(reviewer, admin_user, other_site_prediction):
    own = PredictionFactory(done=True)  # the default site, the reviewer's
    studies = Study.objects.all()
    assert list(study_scope(user=reviewer, queryset=studies)) == [own.image.study]
    assert study_scope(user=admin_user, queryset=studies).count() == 2
    path = "image__study__owner"
    seen = study_scope(user=reviewer, queryset=Prediction.objects.all(), owner_path=path)
    assert list(seen) == [own]
    assert list(review_queue_for(user=reviewer)) == [own]
    assert set(review_queue_for(user=admin_user)) == {own, other_site_prediction}


def test_another_sites_study_does_not_exist_for_a_reviewer(client, reviewer, other_site_prediction):
    study, image = other_site_prediction.image.study, other_site_prediction.image
    client.force_login(reviewer)
    for url in (
        f"/studies/{study.id}/",
        f"/api/v1/studies/{study.id}/",
        f"/images/{image.id}/thumbnail/",
        f"/predictions/{other_site_prediction.id}/heatmap/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get("/api/v1/studies/").json()["results"] == []
    changelist = client.get("/admin/screening/study/")
    assert changelist.status_code == 200 and study.reference not in changelist.text
    change = client.get(f"/admin/screening/prediction/{other_site_prediction.id}/change/")
    assert change.status_code == 302  # the admin's "no such object": back to its index


def test_a_reviewer_cannot_review_another_sites_prediction_in_the_admin(
    client, reviewer, other_site_prediction
):
    client.force_login(reviewer)
    answer = client.post(
        "/admin/screening/review/add/",
        {"prediction": str(other_site_prediction.id), "verdict": "agree", "label": "covid"},
    )
    assert answer.status_code == 200 and "errorlist" in answer.text  # the form refuses the id
    assert not other_site_prediction.reviews.exists()


def test_the_review_service_refuses_another_sites_prediction(reviewer, other_site_prediction):
    from screening.services import ReviewError, review_record

    with pytest.raises(ReviewError, match="own site's studies") as caught:
        review_record(
            prediction=other_site_prediction, reviewer=reviewer, verdict="agree", label=None
        )
    assert caught.value.code == "forbidden" and not other_site_prediction.reviews.exists()
