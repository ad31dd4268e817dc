"""The operating point in force: chosen per model, used by the worker, shown everywhere."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from mlcore.operating_point import OperatingPoint
from mlcore.registry import model_card_read
from screening import selectors, services
from screening.models import AuditEvent, OperatingPointChoice, Prediction, Study
from screening.services import OperatingPointChoiceError
from tests.support.screener import FakeResult

pytestmark = pytest.mark.django_db

# The argmax says normal; at the screening point the film is flagged covid.
FLAGGED = FakeResult(
    label="normal",
    decision="covid",
    operating_point="screening",
    thresholds={"covid_min": 0.09, "pneumonia_min": 0.66},
    probabilities={"covid": 0.2, "pneumonia": 0.1, "normal": 0.7},
    evidence_in_lungs=0.3,
)


@pytest.fixture
def flagged(submit, fake_screener) -> Prediction:
    """A done prediction whose decision (covid) is not its argmax (normal)."""
    fake_screener.result = FLAGGED
    study = submit(reference="flagged")
    prediction = Prediction.objects.get(image__study=study)
    services.prediction_execute(prediction_id=prediction.id)
    prediction.refresh_from_db()
    return prediction


def test_worker_screens_at_the_setting_then_at_the_admins_choice(
    settings, submit, fake_screener, admin_user
):
    settings.CXR_OPERATING_POINT = "balanced"
    first = Prediction.objects.get(image__study=submit())
    services.prediction_execute(prediction_id=first.id)
    assert fake_screener.points == ["balanced"]  # a name the screener finds in its card

    services.operating_point_choose(
        model_name=selectors.model_name_configured(),
        name="own",
        covid_min=0.05,
        pneumonia_min=0.5,
        actor=admin_user,
    )
    second = Prediction.objects.get(image__study=submit())
    services.prediction_execute(prediction_id=second.id)
    assert fake_screener.points[-1] == OperatingPoint(name="own", covid_min=0.05, pneumonia_min=0.5)


def test_prediction_stores_decision_point_thresholds_and_evidence(flagged):
    assert (flagged.label, flagged.decision, flagged.finding) == ("normal", "covid", "covid")
    assert flagged.operating_point == "screening"
    assert flagged.thresholds == {"covid_min": 0.09, "pneumonia_min": 0.66}
    assert flagged.evidence_in_lungs == 0.3 and flagged.evidence_outside_lungs is True
    # The case history lists (and filters on) the decision.
    assert Study.objects.get(images__predictions=flagged).labels == "|covid|"


def test_reviewers_judge_the_decision(flagged, reviewer):
    review = services.review_record(
        prediction=flagged, reviewer=reviewer, verdict="agree", label=None
    )
    assert review.label == "covid"
    with pytest.raises(services.ReviewError):
        services.review_record(
            prediction=flagged, reviewer=reviewer, verdict="disagree", label="covid"
        )
    review = services.review_record(
        prediction=flagged, reviewer=reviewer, verdict="disagree", label="normal"
    )
    assert review.label == "normal"


def test_api_gives_decision_point_and_evidence_beside_the_probabilities(flagged, clinician):
    api = APIClient()
    api.force_authenticate(clinician)
    study = api.get(f"/api/v1/studies/{flagged.image.study_id}/").json()
    prediction = study["images"][0]["prediction"]
    assert prediction["label"] == "normal" and prediction["decision"] == "covid"
    assert prediction["probabilities"]["covid"] == 0.2
    assert prediction["operating_point"] == {
        "name": "screening",
        "thresholds": {"covid_min": 0.09, "pneumonia_min": 0.66},
    }
    assert prediction["evidence_in_lungs"] == 0.3 and prediction["evidence_outside_lungs"] is True
    detail = api.get(f"/api/v1/predictions/{flagged.id}/").json()
    assert detail["decision"] == "covid" and detail["operating_point"]["name"] == "screening"


def test_pages_and_csv_show_the_decision_and_the_probabilities(flagged, client, clinician):
    client.force_login(clinician)
    html = client.get(reverse("screening:study_detail", args=[flagged.image.study_id])).content
    html = html.decode()
    assert 'data-testid="label" data-label="covid"' in html
    assert 'data-testid="argmax" data-label="normal"' in html
    assert 'data-testid="operating-point"' in html
    # The second test is read after the first: the page says so in the rule's own order.
    assert "covid when p(covid)&nbsp;&ge;&nbsp;0.090; else pneumonia when" in html
    assert "p(covid)&nbsp;+&nbsp;p(pneumonia)&nbsp;&ge;&nbsp;0.660" in html
    assert 'data-testid="evidence-outside-lungs"' in html
    assert 'data-testid="evidence-in-lungs"' not in html  # the warning says it already
    history = client.get(reverse("screening:history")).content.decode()
    assert "badge label-covid" in history and "normal 70%" in history
    export = client.get(reverse("screening:history_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0]["label"] == "normal" and rows[0]["decision"] == "covid"
    assert (rows[0]["operating_point"], rows[0]["covid_min"]) == ("screening", "0.09")
    assert rows[0]["evidence_outside_lungs"] == "yes"


def test_choosing_a_shipped_point_copies_its_thresholds_and_is_audited(admin_user):
    name = selectors.model_name_configured()
    card = model_card_read(name=name)
    choice = services.operating_point_choose(model_name=name, name="balanced", actor=admin_user)
    shipped = card.operating_points["balanced"]
    assert choice.thresholds == {k: shipped[k] for k in ("covid_min", "pneumonia_min")}
    event = AuditEvent.objects.get(action="operating_point.change")
    assert event.actor == admin_user and event.detail["now"]["name"] == "balanced"
    assert event.detail["previous"] is None

    services.operating_point_choose(
        model_name=name, name="own", covid_min=0.1, pneumonia_min=0.7, actor=admin_user
    )
    changes = AuditEvent.objects.filter(action="operating_point.change").order_by("created")
    assert changes.last().detail["previous"]["name"] == "balanced"
    assert OperatingPointChoice.objects.count() == 1

    assert services.operating_point_reset(model_name=name, actor=admin_user) is True
    assert AuditEvent.objects.filter(action="operating_point.reset").count() == 1
    in_force = selectors.operating_point_in_force()
    assert (in_force.source, in_force.name, in_force.thresholds) == ("setting", "screening", None)


@pytest.mark.parametrize(
    ("name", "thresholds", "message"),
    [
        ("nope", {}, "not in the card"),
        ("own", {"covid_min": 0.1}, "both thresholds"),
        ("own", {"covid_min": 1.5, "pneumonia_min": 0.2}, "must be a number"),
    ],
)
def test_a_point_that_cannot_hold_is_refused(admin_user, name, thresholds, message):
    with pytest.raises(OperatingPointChoiceError, match=message):
        services.operating_point_choose(
            model_name=selectors.model_name_configured(), name=name, actor=admin_user, **thresholds
        )
    assert not OperatingPointChoice.objects.exists()


def test_admin_picks_a_point_through_the_service(client, admin_user):
    client.force_login(admin_user)
    add = reverse("admin:screening_operatingpointchoice_add")
    assert client.get(add).status_code == 200
    refused = client.post(
        add, {"model_name": selectors.model_name_configured(), "name": "nope", "note": ""}
    )
    assert refused.status_code == 200 and "not in the card" in refused.content.decode()
    response = client.post(
        add,
        {
            "model_name": selectors.model_name_configured(),
            "name": "own",
            "covid_min": "0.05",
            "pneumonia_min": "0.6",
            "note": "more sensitive for the winter",
        },
    )
    assert response.status_code == 302
    choice = OperatingPointChoice.objects.get()
    assert (choice.name, choice.covid_min, choice.changed_by) == ("own", 0.05, admin_user)
    event = AuditEvent.objects.get(action="operating_point.change")
    assert event.detail["note"] == "more sensitive for the winter"
    change = reverse("admin:screening_operatingpointchoice_change", args=[choice.pk])
    assert client.get(change).status_code == 200


def test_model_page_shows_the_point_in_force_its_figures_and_roc(client, clinician, admin_user):
    client.force_login(clinician)
    html = client.get("/model/").content.decode()
    assert 'data-testid="point-in-force"' in html and "CXR_OPERATING_POINT" in html
    assert 'data-testid="operating-point-screening"' in html
    assert 'data-testid="operating-point-balanced"' in html
    assert 'data-testid="roc-covid_vs_rest"' in html and "<polyline" in html
    assert 'data-testid="roc-in-force"' in html
    assert "<script" not in html.split('data-testid="model-roc"')[1].split("</div>")[0]
    services.operating_point_choose(
        model_name=selectors.model_name_configured(),
        name="own",
        covid_min=0.05,
        pneumonia_min=0.6,
        actor=admin_user,
    )
    html = client.get("/model/").content.decode()
    assert "chosen by admin-dave" in html and "not one of the card" in html
    api = APIClient()
    api.force_authenticate(clinician)
    operating = api.get("/api/v1/model/").json()["operating"]
    assert operating["in_force"]["name"] == "own" and operating["in_force"]["source"] == "admin"
    assert {p["name"] for p in operating["points"]} == {"screening", "balanced"}


def test_a_result_whose_evidence_sits_in_the_lungs_shows_its_share(flagged, client, clinician):
    flagged.evidence_in_lungs = 0.74
    flagged.save(update_fields=["evidence_in_lungs"])
    client.force_login(clinician)
    html = client.get(reverse("screening:study_detail", args=[flagged.image.study_id])).content
    html = html.decode()
    assert 'data-testid="evidence-outside-lungs"' not in html
    assert "Heatmap evidence inside the lung fields: 74&nbsp;%" in html
