"""End to end: real Chromium, the live Django server and a real Celery worker with a real model.

A clinician submits a JPEG and a DICOM, watches the study page update itself (htmx polling, no
reload) until every image is final, sees the Grad-CAM heatmap load and work its controls; a
second clinician then gets 404 for the study and for its heatmap.
"""

from __future__ import annotations

import csv
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from tests.factories import PASSWORD, UserFactory
from tests.support.services import SHARED_DATA
from tests.support.worker import worker_running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FINAL_TIMEOUT_MS = 300_000  # the worker loads TensorFlow and the model first
STUDY_URL = re.compile(r"/studies/[0-9a-f-]{36}/$")


def real_radiograph() -> np.ndarray | None:
    """Return a frontal test-split radiograph from the shared data set as a [0, 1] array."""
    metadata = SHARED_DATA / "cxr" / "metadata.csv"
    if not metadata.exists():
        return None
    with metadata.open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["split"] == "test")
    with PILImage.open(SHARED_DATA / "cxr" / row["file"]) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def upload_files() -> list[dict]:
    """A JPEG of a real radiograph and a DICOM of a synthetic chest.

    The shipped model accepts the real one; the tiny fixture model, trained on synthetic chests
    only, refuses it at the gate and accepts the synthetic one: either way one image is done.
    """
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import dicom_bytes

    real = real_radiograph()
    if real is None:
        real = chest_like_array(size=(300, 340), seed=1)
    jpeg = BytesIO()
    PILImage.fromarray((real * 255).round().astype(np.uint8), mode="L").save(
        jpeg, format="JPEG", quality=92
    )
    synthetic = dicom_bytes(pixels=chest_like_array(size=(320, 320), seed=2))
    return [
        {"name": "frontal.jpg", "mimeType": "image/jpeg", "buffer": jpeg.getvalue()},
        {"name": "frontal.dcm", "mimeType": "application/dicom", "buffer": synthetic},
    ]


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/studies/$"))


def console_check(message, problems: list[str]) -> None:
    """Collect console errors (CSP violations included), except the missing favicon."""
    if message.location.get("url", "").endswith("/favicon.ico"):
        return
    if message.type == "error" or "Content Security Policy" in message.text:
        problems.append(f"console {message.type}: {message.text} {message.location}")


def frame_navigated(page, frame, navigations: list[str]) -> None:
    if frame == page.main_frame:
        navigations.append(frame.url)


def worker_log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no worker log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_submit_watch_status_heatmap_and_isolation(
    live_server, new_page, worker_model, screenshot_dir, tmp_path
):
    UserFactory(username="e2e-alice", role="clinician")
    UserFactory(username="e2e-bob", role="clinician")
    UserFactory(username="e2e-rita", role="reviewer")
    base = live_server.url

    page = new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: console_check(msg, problems))

    # Submit a JPEG and a DICOM through the real form (XHR upload with progress).
    log_in(page, base, "e2e-alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New study").click()
    page.wait_for_url(f"{base}/studies/new/")
    page.get_by_label("Reference").fill("e2e-case-1")
    page.set_input_files("#id_files", files=upload_files())
    assert page.locator("#file-list li").count() == 2
    page.get_by_role("button", name="Submit study").click()
    page.wait_for_url(STUDY_URL)
    study_url = page.url

    # Queued until a worker exists: nothing can be final yet.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: frame_navigated(page, frame, navigations))
    page.evaluate("window.__e2eMarker = 'same-document'")
    assert page.get_by_test_id("study-status-text").inner_text().strip() == "Processing"
    before = page.get_by_test_id("image-status").all_inner_texts()
    assert len(before) == 2 and set(before) <= {"queued", "running"}
    assert "Disclaimer" in page.content() or "Not a diagnostic device" in page.content()

    # Start the worker now; the page must pick up the results by itself.
    log_path = tmp_path / "worker.log"
    with worker_running(log_path=log_path, **worker_model):
        try:
            page.wait_for_selector(
                "#study-status[data-final='true']", state="attached", timeout=FINAL_TIMEOUT_MS
            )
        except Exception as exc:  # show what the worker did
            raise AssertionError(f"study never became final\n{worker_log_tail(log_path)}") from exc
    after = page.get_by_test_id("image-status").all_inner_texts()
    assert len(after) == 2 and set(after) <= {"done", "rejected"}, (
        after,
        worker_log_tail(log_path),
    )
    assert page.get_by_test_id("study-status-text").inner_text().strip() == "Done"
    assert page.evaluate("window.__e2eMarker") == "same-document"  # never reloaded
    assert navigations == []
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # The heatmap overlay loads and its controls work from the keyboard.
    assert "done" in after, f"no image was accepted by the gate: {after}"
    for refused in page.locator("[data-testid=image-card][data-status=rejected]").all():
        expect(refused.locator(".notice.refused")).to_contain_text("Refused by the input gate")
    heatmaps = page.locator("img[data-testid=heatmap]")
    assert heatmaps.count() == after.count("done")
    page.wait_for_function(
        "() => [...document.querySelectorAll('img[data-testid=heatmap]')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.base')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    card = page.locator("[data-testid=image-card][data-status=done]").first
    assert card.get_by_test_id("label").inner_text().strip()
    toggle = card.get_by_label("Heatmap overlay")
    heat = card.locator("img[data-testid=heatmap]")
    toggle.uncheck()
    assert not heat.is_visible()
    toggle.check()
    assert heat.is_visible()
    slider = card.get_by_label("Opacity")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(heat).to_have_css("opacity", "0.6")  # 0.5 + two steps of 5 %
    page.screenshot(path=str(screenshot_dir / "study-page.png"), full_page=True)
    heatmap_url = heat.get_attribute("src")
    thumbnail_url = card.locator("img.base").get_attribute("src")
    assert not problems, problems
    page.goto(f"{base}/studies/")
    expect(page.get_by_test_id("history")).to_contain_text("e2e-case-1")
    page.screenshot(path=str(screenshot_dir / "history.png"), full_page=True)

    # Another clinician: the study and its files do not exist for them.
    other = new_page()
    log_in(other, base, "e2e-bob")
    assert other.goto(study_url).status == 404
    assert other.goto(f"{base}{heatmap_url}").status == 404
    assert other.goto(f"{base}{thumbnail_url}").status == 404
    other.goto(f"{base}/studies/")
    assert "e2e-case-1" not in other.content()

    # A reviewer disagrees through the htmx form: the error, then the review, appear in place.
    reviewer = new_page()
    log_in(reviewer, base, "e2e-rita")
    reviewer.get_by_role("link", name="Review queue").click()
    expect(reviewer.get_by_test_id("queue-item")).to_have_count(after.count("done"))
    reviewer.screenshot(path=str(screenshot_dir / "review-queue.png"), full_page=True)
    reviewer.goto(study_url)
    reviewer.evaluate("window.__e2eMarker = 'same-document'")
    card = reviewer.locator("[data-testid=image-card][data-status=done]").first
    predicted = card.get_by_test_id("label").get_attribute("data-label")
    card.get_by_label("Disagree", exact=True).check()
    card.get_by_role("button", name="Save review").click()
    expect(card.locator(".review-block [role=alert]")).to_contain_text("disagree")
    card.get_by_label("Correct label").select_option("covid" if predicted != "covid" else "normal")
    card.get_by_label("Note").fill("e2e: looks different to me")
    card.get_by_role("button", name="Save review").click()
    expect(card.get_by_test_id("reviews")).to_contain_text("e2e-rita")
    expect(card.get_by_test_id("reviews")).to_contain_text("e2e: looks different to me")
    assert reviewer.evaluate("window.__e2eMarker") == "same-document"


def noise_png(*, side: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = BytesIO()
    PILImage.fromarray(rng.integers(0, 256, size=(side, side), dtype=np.uint8), mode="L").save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def test_upload_form_checks_errors_and_progress(live_server, new_page, settings, screenshot_dir):
    from screening.models import Study

    UserFactory(username="e2e-carol", role="clinician")
    base = live_server.url
    page = new_page()
    log_in(page, base, "e2e-carol")
    page.goto(f"{base}/studies/new/")
    assert page.locator("#study-form").get_attribute("data-max-files") == str(
        settings.CXR_MAX_FILES_PER_STUDY
    )

    # Client-side checks: nothing is sent, each problem names its file.
    page.set_input_files(
        "#id_files",
        files=[
            {"name": "empty.png", "mimeType": "image/png", "buffer": b""},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"},
            {"name": "fake.png", "mimeType": "image/png", "buffer": b"not really a png" * 20},
        ],
    )
    page.get_by_role("button", name="Submit study").click()
    errors = page.get_by_test_id("form-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("empty.png: the file is empty")
    expect(errors).to_contain_text("notes.txt: not a PNG, JPEG or DICOM file")
    expect(errors).to_contain_text("fake.png: the content is not a PNG, JPEG or DICOM image")
    assert Study.objects.count() == 0
    page.screenshot(path=str(screenshot_dir / "upload-errors.png"), full_page=True)

    # A file that passes the browser's checks but not the server's: 400, shown by name.
    for _ in range(3):
        page.locator("#file-list button[data-remove]").first.click()
    expect(page.locator("#file-list li")).to_have_count(0)
    page.set_input_files(
        "#id_files",
        files=[
            {
                "name": "broken.png",
                "mimeType": "image/png",
                "buffer": b"\x89PNG\r\n\x1a\n" + b"x" * 200,
            }
        ],
    )
    page.get_by_role("button", name="Submit study").click()
    expect(errors).to_contain_text("broken.png")
    expect(errors).not_to_contain_text("empty.png")
    assert Study.objects.count() == 0

    # A real upload over a slow link: the progress bar moves, then the study page opens.
    page.locator("#file-list button[data-remove]").first.click()
    page.set_input_files(
        "#id_files",
        files=[{"name": "big.png", "mimeType": "image/png", "buffer": noise_png(side=1200)}],
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    page.get_by_role("button", name="Submit study").click()
    page.wait_for_function(
        "() => { const bar = document.getElementById('upload-bar');"
        " return bar && !bar.closest('[hidden]') && bar.value > 0 && bar.value < 100; }",
        timeout=20_000,
    )
    page.wait_for_url(STUDY_URL, timeout=60_000)
    assert Study.objects.count() == 1


def test_submit_works_without_javascript(live_server, new_page):
    UserFactory(username="e2e-dan", role="clinician")
    base = live_server.url
    page = new_page(java_script_enabled=False)
    log_in(page, base, "e2e-dan")
    page.goto(f"{base}/studies/new/")
    page.set_input_files("#id_files", files=upload_files()[:1])
    page.get_by_role("button", name="Submit study").click()
    page.wait_for_url(STUDY_URL)
    expect(page.get_by_test_id("study-status-text")).to_have_text("Processing")
    expect(page.get_by_test_id("image-status")).to_have_text("queued")
