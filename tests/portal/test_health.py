import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_healthz_reports_each_part(client):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert set(body) >= {"status", "database", "broker", "storage", "model"}
    assert body["database"] == "ok"
    assert body["storage"] == "ok"
    assert response.status_code == (200 if body["status"] == "ok" else 503)


@pytest.mark.django_db
def test_healthz_degraded_when_model_missing(client, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(tmp_path))
    settings.CXR_MODEL_NAME = "no-such-model"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["model"].startswith("error:")
    assert body["database"] == "ok"


@pytest.mark.django_db
def test_healthz_degraded_when_broker_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error:")
