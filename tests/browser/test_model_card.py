"""The model card page in real Chromium: reached from the navigation, no CSP or console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_e2e import console_check, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_model_card_from_the_navigation(live_server, new_page, screenshot_dir):
    UserFactory(username="card-reader", role="clinician")
    page = new_page()
    problems: list[str] = []
    page.on("console", lambda message: console_check(message, problems))
    log_in(page, live_server.url, "card-reader")
    page.get_by_role("link", name="About the model").click()
    expect(page.get_by_role("heading", name="About the model", level=1)).to_be_visible()
    expect(page.get_by_test_id("model-limits")).to_contain_text("not a diagnostic device")
    expect(page.get_by_test_id("model-per-source")).to_contain_text("cohen")
    expect(page.get_by_test_id("disclaimer")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "model_card.png"), full_page=True)
    assert problems == []
