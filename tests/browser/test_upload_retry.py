"""The upload form when the answer to a stored study is lost: real Chromium, the live server.

The first POST reaches the server and is stored, but the browser is handed the 503 that a COMMIT
lost with the database gives. The page says the study may have been submitted; sending the same
files again carries the same Idempotency-Key and opens the study already stored, not a second.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from portal.outage import SAVE_UNCONFIRMED
from screening.models import Study
from tests.browser.test_e2e import STUDY_URL, console_check, log_in
from tests.factories import UserFactory
from tests.support.images import png_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lost_answer_is_told_and_resending_opens_the_stored_study(live_server, new_page):
    UserFactory(username="retry-ann", role="clinician")
    base = live_server.url
    page = new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: console_check(msg, problems))
    log_in(page, base, "retry-ann")
    page.goto(f"{base}/studies/new/")
    film = {"name": "chest.png", "mimeType": "image/png", "buffer": png_data(seed=5)}
    page.set_input_files("#id_files", files=[film])

    keys: list[str | None] = []

    def answer_lost(route, request):
        if request.method != "POST":
            return route.continue_()
        keys.append(request.headers.get("idempotency-key"))
        stored = route.fetch()  # the server stores the study; its answer never arrives
        assert stored.status == 201, stored.text()
        body = {"detail": SAVE_UNCONFIRMED.detail, "code": SAVE_UNCONFIRMED.code}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r".*/studies/new/$"), answer_lost)
    page.get_by_role("button", name="Submit study").click()
    errors = page.locator("#form-errors")
    expect(errors).to_contain_text("The study may have been submitted.")
    expect(errors).to_contain_text("Look in your case history")
    assert Study.objects.filter(owner__username="retry-ann").count() == 1

    page.unroute(re.compile(r".*/studies/new/$"))
    with page.expect_request(lambda r: r.method == "POST" and "/studies/new/" in r.url) as sent:
        page.get_by_role("button", name="Submit study").click()
    page.wait_for_url(STUDY_URL)
    assert sent.value.headers.get("idempotency-key") == keys[0] and keys[0]
    study = Study.objects.get(owner__username="retry-ann")
    assert page.url.endswith(f"/studies/{study.pk}/")
    # Chromium logs the 503 it was handed; anything else on the console is a fault.
    assert [p for p in problems if "status of 503" not in p] == []
