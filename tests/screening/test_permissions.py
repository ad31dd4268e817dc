"""Permissions: role checks and queryset scoping."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from screening.models import Image, Study
from screening.permissions import study_scope, user_may_review, user_sees_all

pytestmark = pytest.mark.django_db


def test_roles(clinician, reviewer, admin_user):
    assert not user_sees_all(user=clinician) and not user_may_review(user=clinician)
    assert user_sees_all(user=reviewer) and user_may_review(user=reviewer)
    assert user_sees_all(user=admin_user) and user_may_review(user=admin_user)
    assert not user_sees_all(user=AnonymousUser())
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
