"""The comparison page and its buttons: who may see and do what; shadows stay hidden."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.accounts.models import Site
from screening import services
from screening.models import AuditEvent, ModelDeployment
from screening.selectors_deployment import deployment_in_force
from tests.factories import UserFactory
from tests.support.api import api_client_for
from tests.support.shadow import CANDIDATE, IN_FORCE, reviewed_pair, weights_folder_make

pytestmark = pytest.mark.django_db

PAGE = "screening:model_comparison"
CHANGE = "screening:model_deployment_change"


@pytest.fixture
def shadowing(tmp_path, settings, monkeypatch, admin_user):
    """The tiny model in force, its twin registered as candidate; two sites with cases."""
    root = weights_folder_make(root=tmp_path / "weights")
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(root))
    settings.CXR_MODEL_NAME = IN_FORCE
    settings.CXR_PROMOTION_MIN_CASES = 2
    services.model_candidate_set(name=CANDIDATE, actor=admin_user)
    north = Site.objects.create(slug="north", name="North Hospital")
    south = Site.objects.create(slug="south", name="South Clinic")
    for site in (north, south):
        reviewed_pair(truth="covid", current="covid", candidate="covid", site=site)
        reviewed_pair(truth="pneumonia", current="pneumonia", candidate="pneumonia", site=site)
    # Reviewers split 1-1: left out of the figures and counted.
    reviewed_pair(
        truth="", current="normal", candidate="covid", site=north, reviews=("covid", "normal")
    )
    reviewed_pair(truth="", current="", candidate="normal", site=south)  # gates disagree
    return {"north": north, "south": south}


def _sections(response) -> list[str]:
    html = response.content.decode()
    return [chunk.split('"', 1)[0] for chunk in html.split('data-site="')[1:]]


def test_clinicians_are_refused_the_page_and_the_buttons(client, clinician, shadowing):
    client.force_login(clinician)
    assert client.get(reverse(PAGE)).status_code == 403
    assert client.post(reverse(CHANGE), {"action": "promote"}).status_code == 403
    assert deployment_in_force().candidate == CANDIDATE


def test_a_reviewer_sees_only_their_site(client, shadowing):
    reviewer = UserFactory(username="rev-north", role="reviewer", site=shadowing["north"])
    client.force_login(reviewer)
    response = client.get(reverse(PAGE))
    assert response.status_code == 200
    assert _sections(response) == ["north"]
    html = response.content.decode()
    assert "North Hospital" in html and "South Clinic" not in html
    assert "1 left out for tied reviews" in html and "deployment-actions" not in html
    section = response.context["report"].sections[0]
    assert section.comparison.cases == 2 and section.ties == 1
    # Reviewers look; only admins change what is in force.
    assert client.post(reverse(CHANGE), {"action": "promote"}).status_code == 403


def test_an_admin_sees_all_sites_then_each(client, admin_user, shadowing):
    client.force_login(admin_user)
    response = client.get(reverse(PAGE))
    assert _sections(response) == ["", "north", "south"]
    overall = response.context["report"].sections[0]
    assert overall.comparison.cases == 4 and overall.ties == 1
    assert overall.gate["only_candidate_accepted"] == 1
    assert overall.comparison.mcnemar_p == 1.0
    assert "p = 1.0000" in response.content.decode()
    assert "Promotion <strong>allowed</strong> on 4 reviewed case(s)." in response.content.decode()


def test_admin_buttons_promote_and_roll_back_audited(client, admin_user, shadowing):
    client.force_login(admin_user)
    response = client.post(reverse(CHANGE), {"action": "promote", "note": "site evidence"})
    assert response.status_code == 302
    assert deployment_in_force().in_force == CANDIDATE
    event = AuditEvent.objects.get(action="model.promote")
    assert event.ip_address == "127.0.0.1" and event.detail["note"] == "site evidence"
    client.post(reverse(CHANGE), {"action": "rollback"})
    assert deployment_in_force().in_force == IN_FORCE
    client.post(reverse(CHANGE), {"action": "candidate_set", "name": CANDIDATE})
    assert deployment_in_force().candidate == CANDIDATE
    response = client.post(
        reverse(CHANGE), {"action": "candidate_set", "name": "../etc"}, follow=True
    )
    assert "invalid model name" in response.content.decode()
    client.post(reverse(CHANGE), {"action": "candidate_clear"})
    assert deployment_in_force().candidate == ""


def test_refused_promotion_says_why(client, admin_user, shadowing, settings):
    settings.CXR_PROMOTION_MIN_CASES = 50
    client.force_login(admin_user)
    response = client.post(reverse(CHANGE), {"action": "promote"}, follow=True)
    assert "4 reviewed case(s) screened by both; 50 needed." in response.content.decode()
    assert deployment_in_force().in_force == IN_FORCE


def test_admin_registers_a_candidate_in_the_django_admin(client, admin_user, shadowing):
    services.model_candidate_clear(actor=admin_user)
    client.force_login(admin_user)
    add = reverse("admin:screening_modeldeployment_add")
    response = client.post(add, {"candidate": CANDIDATE, "note": "from the admin"})
    assert response.status_code == 302
    assert deployment_in_force().candidate == CANDIDATE
    assert client.get(reverse("admin:screening_shadowprediction_changelist")).status_code == 200
    rows = ModelDeployment.objects.count()
    response = client.post(add, {"candidate": "no-such-model"}, follow=True)
    assert "not found" in response.content.decode()
    assert ModelDeployment.objects.count() == rows  # a refusal writes nothing


def test_reviewers_do_not_see_shadow_rows_in_the_admin(client, reviewer, shadowing):
    client.force_login(reviewer)
    assert client.get(reverse("admin:screening_shadowprediction_changelist")).status_code == 403


def test_clinicians_never_see_a_shadow_result(client, shadowing):
    prediction = reviewed_pair(truth="normal", current="normal", candidate="covid")
    owner = prediction.image.study.owner
    client.force_login(owner)
    study = prediction.image.study
    pages = [
        client.get(reverse("screening:history")),
        client.get(reverse("screening:history_export")),
        client.get(reverse("screening:study_detail", args=[study.pk])),
    ]
    api = api_client_for(owner)
    pages += [
        api.get(reverse("api:study-list")),
        api.get(reverse("api:study-detail", args=[study.pk])),
        api.get(reverse("api:prediction-detail", args=[prediction.pk])),
    ]
    for response in pages:
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert CANDIDATE.encode() not in body and b"shadow" not in body.lower()
    detail = pages[4].json()
    assert detail["images"][0]["prediction"]["decision"] == "normal"
