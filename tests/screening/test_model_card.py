"""The model card page and API: what users are told about the model, from its card."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from mlcore.registry import model_card_read

pytestmark = pytest.mark.django_db


def test_page_shows_the_shipped_cards_figures_and_limits(client, clinician):
    card = model_card_read(name=settings.CXR_MODEL_NAME)
    test = card.evaluation["test"]
    client.force_login(clinician)
    response = client.get(reverse("screening:model_card"))
    assert response.status_code == 200
    html = response.content.decode()
    assert card.name in html and card.version in html
    assert f"{test['macro_auc']:.3f}" in html and f"{test['ece']:.3f}" in html
    for source, figures in test["per_source"].items():
        assert source in html and f"{figures['accuracy']:.3f}" in html
    # The within-source shortcut figure is stated as a limit, not hidden in a table.
    cohen = test["covid_vs_rest_auc_within_source"]["cohen"]
    limits = html.split('data-testid="model-limits"')[1].split("</ul>")[0]
    assert f"cohen {cohen:.2f}" in limits and "not a diagnostic device" in limits
    assert 'data-testid="disclaimer"' in html
    assert 'href="/model/" aria-current="page"' in html


def test_limits_state_the_screening_points_second_looks_and_the_gates_worst_source(
    client, clinician
):
    card = model_card_read(name=settings.CXR_MODEL_NAME)
    point = card.operating_points[card.default_operating_point]
    lowest = min(f["specificity"]["value"] for f in point["figures"]["test"].values())
    gate = card.evaluation["gate2"]["leave_one_source_out"]
    client.force_login(clinician)
    html = client.get(reverse("screening:model_card")).content.decode()
    limits = html.split('data-testid="model-limits"')[1].split("</ul>")[0]
    # The shipped card's default point flags most SIIM films without pneumonia.
    assert lowest < 0.5
    assert f"At the {card.default_operating_point} point (SIIM: " in limits
    assert f"{1 - lowest:.0%} of the test films without the finding" in limits
    assert gate["worst_refused"] < 0.99
    assert f"let through {1 - gate['worst_refused']:.1%} of the {gate['worst_source']}" in limits
    refits = card.evaluation["gate2"]["refits"]
    lowest = refits["worst_refused_min"]
    if lowest < gate["worst_refused"]:
        assert f"up to {1 - lowest:.1%} of a left-out source in refits" in limits
    else:
        assert f"no more in {refits['draws']} refits that differ by rounding only" in limits
    stated = html.split('data-testid="model-gate-refits">')[1].split("</span>")[0]
    assert f"{lowest:.3f}" in stated
    texture = card.evaluation["gate2"].get("texture_read")
    if texture:
        assert f'data-testid="model-gate-texture">{texture}</span> channel means' in html


def test_limits_state_how_much_of_cohens_figure_the_publisher_explains(client, clinician):
    card = model_card_read(name=settings.CXR_MODEL_NAME)
    check = card.evaluation["figures"]["contributor"]
    client.force_login(clinician)
    html = client.get(reverse("screening:model_card")).content.decode()
    limits = html.split('data-testid="model-limits"')[1].split("</ul>")[0]
    # On the shipped card the licence alone separates Cohen's covid films better than the model.
    assert check["key_only_auc"] > check["auc"]
    assert f"alone separates covid from the rest at AUC {check['key_only_auc']:.2f}" in limits
    assert f"the model does so at {check['auc']:.2f}" in limits
    assert f"Over the {check['pairs_within']} of its {check['pairs']} covid-vs-other" in limits
    assert f"share a licence, the model scores {check['auc_within_key']:.2f}" in limits


def test_page_needs_login(client):
    response = client.get(reverse("screening:model_card"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_api_returns_the_summary_with_the_disclaimer(clinician):
    api = APIClient()
    api.force_authenticate(clinician)
    response = api.get("/api/v1/model/")
    assert response.status_code == 200
    data = json.loads(response.content)
    card = model_card_read(name=settings.CXR_MODEL_NAME)
    assert data["disclaimer"] == settings.CXR_DISCLAIMER
    assert data["name"] == card.name and data["version"] == card.version
    assert data["test"]["macro_auc"] == card.evaluation["test"]["macro_auc"]
    assert set(data["test"]["per_class"]) == {"covid", "pneumonia", "normal"}
    assert data["test"]["per_source"]["cohen"]["covid_vs_rest_auc"] is not None
    assert data["test_time_views"] == (2 if card.view_shift else 1)
    assert any("not a diagnostic device" in text for text in data["limitations"])


def test_api_needs_authentication():
    assert APIClient().get("/api/v1/model/").status_code == 401


def test_unavailable_model_is_a_clear_503(client, clinician, settings):
    settings.CXR_MODEL_NAME = "no-such-model"
    client.force_login(clinician)
    page = client.get(reverse("screening:model_card"))
    assert page.status_code == 503 and 'data-testid="model-unavailable"' in page.content.decode()
    api = APIClient()
    api.force_authenticate(clinician)
    response = api.get("/api/v1/model/")
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "detail": "The model is not available.",
        "disclaimer": settings.CXR_DISCLAIMER,
    }


def test_page_and_api_say_what_the_classes_mean(client, clinician):
    from mlcore.labels import LABEL_MEANINGS

    client.force_login(clinician)
    html = client.get(reverse("screening:model_card")).content.decode()
    classes = html.split('data-testid="model-classes"')[1].split("</dl>")[0]
    for label, meaning in LABEL_MEANINGS.items():
        assert label in classes and meaning in classes
    api = APIClient()
    api.force_authenticate(clinician)
    data = json.loads(api.get("/api/v1/model/").content)
    assert data["classes"] == [{"label": k, "meaning": v} for k, v in LABEL_MEANINGS.items()]


def test_inside_source_figures_are_shown_from_the_card(client, clinician):
    card = model_card_read(name=settings.CXR_MODEL_NAME)
    figures = card.evaluation["figures"]
    client.force_login(clinician)
    html = client.get(reverse("screening:model_card")).content.decode()
    table = html.split('data-testid="model-inside-source"')[1].split("</table>")[0]
    for key in ("siim_typical_vs_negative_auc", "siim_opacity_vs_negative_auc"):
        assert f"{figures[key]:.3f}" in table
    assert f"{figures['cohen_covid_vs_rest_auc']:.3f}" in table
    api = APIClient()
    api.force_authenticate(clinician)
    data = json.loads(api.get("/api/v1/model/").content)
    assert (
        data["inside_source"]["siim_typical_vs_negative_auc"]
        == figures["siim_typical_vs_negative_auc"]
    )
    assert data["architecture"]["backbone"] == card.training["backbone"]


def test_the_card_names_the_imagenet_backbone_it_started_from():
    from screening.model_card import _card_architecture

    lite1 = _card_architecture(training={"backbone": "efficientnet-lite1", "pretrained": True})
    scratch = _card_architecture(training={"backbone": "cxrnet", "pretrained": False})
    assert lite1["description"].startswith("EfficientNet-Lite1 started from ImageNet weights")
    assert scratch["description"] == "a compact convolutional network trained from scratch"


def test_an_ensembles_card_says_it_averages_its_networks():
    from screening.model_card import _card_architecture

    one = {"backbone": "efficientnet-lite0", "pretrained": True}
    two = {**one, "ensemble": [{"folder": "a"}, {"folder": "b"}]}
    assert _card_architecture(training=one)["members"] == 1
    described = _card_architecture(training=two)
    assert described["members"] == 2
    assert described["description"] == (
        "the average of 2 networks, each EfficientNet-Lite0 started from ImageNet weights and "
        "fine-tuned"
    )


def test_the_gates_refit_range_is_stated_beside_its_one_fit_figure():
    from screening.model_card import _card_gate, _gate_limitations

    gate2 = {
        "leave_one_source_out": {
            "sources": {"busi": {"n": 64, "kinds": ["ultrasound"], "refused": 0.969}},
            "worst_source": "busi",
            "worst_refused": 0.969,
        },
        "refits": {"draws": 3, "noise": 0.001, "worst_refused_min": 0.891,
                   "worst_refused_max": 0.922, "worst": []},
    }  # fmt: skip
    assert _card_gate(gate2=gate2)["refits"]["noise_percent"] == pytest.approx(0.1)
    (limit,) = _gate_limitations(gate2=gate2)
    assert "let through 3.1% of the busi images (ultrasound)" in limit
    assert "up to 10.9% of a left-out source in refits that differ by rounding only" in limit
    gate2["refits"] = {**gate2["refits"], "worst_refused_min": 0.969, "worst_refused_max": 0.969}
    (limit,) = _gate_limitations(gate2=gate2)
    assert "(no more in 3 refits that differ by rounding only)" in limit
    assert _card_gate(gate2={**gate2, "texture_read": 256})["texture_read"] == 256
    assert _card_gate(gate2=gate2)["texture_read"] == 0
    del gate2["refits"]
    assert "refits" not in _gate_limitations(gate2=gate2)[0]
