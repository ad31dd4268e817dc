"""Selectors: scoping by role, prefetching, filters, review queue, agreement."""

from __future__ import annotations

import uuid

import pytest
from django.http import Http404

from portal.accounts.models import Site
from screening.models import Prediction, Review
from screening.selectors import (
    agreement_by_model_version,
    image_current_prediction,
    image_get_for,
    prediction_get_for,
    review_queue_for,
    study_get_for,
    study_list_for,
)
from screening.services import prediction_execute, prediction_rerun
from tests.factories import UserFactory
from tests.support.images import png_upload

pytestmark = pytest.mark.django_db


def test_study_list_scoped_by_role(clinician, other_clinician, reviewer, admin_user, submit):
    mine = submit()
    theirs = submit(owner=other_clinician)
    assert list(study_list_for(user=clinician)) == [mine]
    assert list(study_list_for(user=other_clinician)) == [theirs]
    for staff in (reviewer, admin_user):
        assert set(study_list_for(user=staff)) == {mine, theirs}


def test_study_list_prefetches_current_predictions(
    clinician, submit, admin_user, enqueued, django_assert_max_num_queries
):
    study = submit(files=[png_upload(seed=1), png_upload(seed=2)])
    image = study.images.first()
    prediction_rerun(image=image, actor=admin_user)  # two predictions, one current
    with django_assert_max_num_queries(5):
        studies = list(study_list_for(user=clinician))
        currents = [image_current_prediction(image=i) for s in studies for i in s.images.all()]
    assert len(currents) == 2 and all(p.is_current for p in currents)
    assert [i.position for i in studies[0].images.all()] == [0, 1]


def test_study_list_filters(clinician, submit, fake_screener):
    a = submit(reference="A-1")
    b = submit(reference="B-2")
    prediction_execute(prediction_id=Prediction.objects.get(image__study=a).id)
    assert list(study_list_for(user=clinician, filters={"status": "done"})) == [a]
    assert list(study_list_for(user=clinician, filters={"label": "pneumonia"})) == [a]
    assert list(study_list_for(user=clinician, filters={"reference": "b-"})) == [b]
    assert list(study_list_for(user=clinician, filters={"reviewed": "false"})) == [b, a]
    # Invalid values are ignored rather than raising (the API reports them as 400 itself).
    assert len(study_list_for(user=clinician, filters={"label": "nonsense"})) == 2


def test_get_for_raises_404_across_users(clinician, other_clinician, reviewer, submit):
    study = submit()
    image = study.images.get()
    prediction = Prediction.objects.get(image=image)
    for getter, kwargs in (
        (study_get_for, {"study_id": study.id}),
        (image_get_for, {"image_id": image.id}),
        (prediction_get_for, {"prediction_id": prediction.id}),
    ):
        assert getter(user=clinician, **kwargs)
        assert getter(user=reviewer, **kwargs)
        with pytest.raises(Http404):
            getter(user=other_clinician, **kwargs)
    for bad in ("nope", None, 42, str(uuid.uuid4())):
        with pytest.raises(Http404):
            study_get_for(user=clinician, study_id=bad)


def test_anonymous_and_inactive_see_nothing(clinician, submit):
    from django.contrib.auth.models import AnonymousUser

    study = submit()
    assert not study_list_for(user=AnonymousUser()).exists()
    with pytest.raises(Http404):
        study_get_for(user=AnonymousUser(), study_id=study.id)
    clinician.is_active = False
    clinician.save()
    assert not study_list_for(user=clinician).exists()


def test_review_queue(clinician, reviewer, admin_user, submit, fake_screener):
    first, second, pending = (Prediction.objects.get(image__study=submit()) for _ in range(3))
    prediction_execute(prediction_id=first.id)
    prediction_execute(prediction_id=second.id)
    assert list(review_queue_for(user=reviewer)) == [first, second]  # oldest first
    Review.objects.create(prediction=first, reviewer=admin_user, verdict="agree", label="pneumonia")
    assert list(review_queue_for(user=reviewer)) == [second]
    assert not review_queue_for(user=clinician).exists()
    assert pending not in review_queue_for(user=admin_user)


def test_agreement_by_model_version(reviewer, admin_user, submit, fake_screener):
    predictions = [Prediction.objects.get(image__study=submit()) for _ in range(2)]
    for p in predictions:
        prediction_execute(prediction_id=p.id)
    Review.objects.create(
        prediction=predictions[0], reviewer=reviewer, verdict="agree", label="pneumonia"
    )
    Review.objects.create(
        prediction=predictions[1], reviewer=reviewer, verdict="disagree", label="normal"
    )
    Review.objects.create(
        prediction=predictions[1], reviewer=admin_user, verdict="agree", label="pneumonia"
    )
    expected = [
        {"model_name": "fake-model", "model_version": "9.9.9", "reviews": 3, "agree": 2,
         "rate": pytest.approx(2 / 3)},
    ]  # fmt: skip
    assert agreement_by_model_version(user=reviewer) == expected
    assert agreement_by_model_version(user=admin_user) == expected
    # A reviewer of another site counts none of these reviews.
    south = Site.objects.create(slug="south", name="South")
    stranger = UserFactory(username="rev-south", role="reviewer", site=south)
    assert agreement_by_model_version(user=stranger) == []
