"""Browser fixtures: real Chromium through Playwright against Django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcore.registry import DEFAULT_MODEL_NAME
from tests.support.services import REPO_ROOT, chromium_path, service_missing

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make while
# it runs (live server, fixtures) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session", autouse=True)
def _live_server_serves_no_media() -> Iterator[None]:
    """Keep the live server from serving MEDIA_ROOT (MEDIA_URL is None: files go through views).

    Django's LiveServerThread always wraps a media handler, which fails on MEDIA_URL = None.
    """
    from django.test import testcases

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(testcases._MediaFilesHandler, "get_base_url", lambda self: "/")
        patch.setattr(testcases._MediaFilesHandler, "_should_handle", lambda self, path: False)
        yield


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Launch the system Chromium once per session (never a downloaded one)."""
    path = chromium_path()
    if not path:
        service_missing("Chromium not found (set CXR_CHROMIUM or install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh contexts (separate cookies, i.e. separate users)."""
    contexts = []

    def _open(**options):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def model_env() -> dict[str, str]:
    """Name the model the worker loads: the tiny fixture model, else the shipped one."""
    if os.environ.get("CXR_WEIGHTS_DIR"):
        return {}  # the caller chose a model (and CXR_MODEL_NAME) explicitly
    fixtures = REPO_ROOT / "tests" / "fixtures" / "models"
    cards = sorted(fixtures.glob("*/card.json"))
    if cards:
        return {"CXR_WEIGHTS_DIR": str(fixtures), "CXR_MODEL_NAME": cards[0].parent.name}
    shipped = REPO_ROOT / "mlcore" / "weights"
    if (shipped / DEFAULT_MODEL_NAME / "card.json").exists():
        return {"CXR_WEIGHTS_DIR": str(shipped), "CXR_MODEL_NAME": DEFAULT_MODEL_NAME}
    service_missing(
        f"no model: neither tests/fixtures/models/*/ nor mlcore/weights/{DEFAULT_MODEL_NAME}/"
    )
    return {}


@pytest.fixture
def worker_model(settings, monkeypatch) -> dict[str, str]:
    """Point this process (model name/version on submit) and the worker at the same model."""
    env = model_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.CXR_MODEL_NAME = env.get("CXR_MODEL_NAME") or os.environ.get("CXR_MODEL_NAME")
    return env


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
