"""Shared fixtures: users by role, a fake model, recorded enqueues, a done prediction,
real-service gates, the shared data sets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support.services import SHARED_DATA, port_open, service_missing, services_required

# Stack fixtures (gunicorn, the tiny model) serve the hardening and PACS suites alike.
pytest_plugins = ["tests.support.stack_fixtures"]


def _user_fixture(*, username: str, role: str):
    """Return a fixture that creates one user of `role` (factories load after Django)."""

    @pytest.fixture
    def user(db):
        from tests.factories import UserFactory

        return UserFactory(username=username, role=role)

    return user


clinician = _user_fixture(username="clin-alice", role="clinician")
other_clinician = _user_fixture(username="clin-bob", role="clinician")
reviewer = _user_fixture(username="rev-carol", role="reviewer")
admin_user = _user_fixture(username="admin-dave", role="admin")


@pytest.fixture
def fake_screener():
    """Install a FakeScreener as this process's model."""
    from screening.inference import screener_reset
    from tests.support.screener import FakeScreener

    screener = FakeScreener()
    screener_reset(screener=screener)
    yield screener
    screener_reset()


@pytest.fixture
def enqueued(monkeypatch):
    """Record predict_image.delay calls instead of publishing to the broker."""
    from screening import tasks

    calls: list[str] = []
    monkeypatch.setattr(tasks.predict_image, "delay", lambda pid: calls.append(pid))
    return calls


@pytest.fixture
def submit(clinician, enqueued):
    """Submit a study through the service for `owner` (the clinician by default)."""
    from screening.services import study_submit
    from tests.support.images import png_upload

    def _submit(owner=None, files=None, reference: str = ""):
        return study_submit(
            owner=owner or clinician, files=files or [png_upload()], reference=reference
        )

    return _submit


@pytest.fixture
def done_prediction(clinician):
    """The clinician's one-image study whose prediction is done (label "pneumonia", heatmap)."""
    from tests.factories import PredictionFactory

    return PredictionFactory(done=True, image__study__owner=clinician)


@pytest.fixture
def commit_fails(monkeypatch):
    """Make the next COMMIT raise as a dropped connection does; `landed` says if it went in."""

    def _install(*, landed: bool):
        from django.db import OperationalError, connections

        wrapper = connections["default"]
        real_commit = wrapper.commit

        def commit():
            monkeypatch.setattr(wrapper, "commit", real_commit)  # only this one COMMIT
            if landed:
                real_commit()
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(wrapper, "commit", commit)

    return _install


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the repository (always present in CI)."""
    if not (SHARED_DATA / "cxr" / "metadata.csv").exists():
        service_missing(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _test_media_cleanup():
    """Remove this run's media and broker folders when the session ends."""
    yield
    from django.conf import settings

    if not settings.configured or not hasattr(settings, "RUN_ID"):
        return  # pure-Python runs (-p no:django) have no Django settings
    for folder in (settings.MEDIA_ROOT, settings.CELERY_BROKER_DIR):
        if f"-{settings.RUN_ID}" in str(folder):
            shutil.rmtree(folder, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    """With CXR_REQUIRE_SERVICES=1, refuse to start unless PostgreSQL and Redis are configured."""
    if not services_required():
        return
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("CXR_REQUIRE_SERVICES=1 needs DATABASE_URL=postgres://...")
    if not broker_url.startswith("redis://"):
        raise pytest.UsageError("CXR_REQUIRE_SERVICES=1 needs CELERY_BROKER_URL=redis://...")
    for name, url in (("PostgreSQL", database_url), ("Redis", broker_url)):
        parsed = urlparse(url)
        if not port_open(host=parsed.hostname or "127.0.0.1", port=parsed.port or 0):
            raise pytest.UsageError(f"{name} is not reachable at {parsed.hostname}:{parsed.port}")
