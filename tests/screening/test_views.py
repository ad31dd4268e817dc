"""Screening web pages: roles, object permissions, submission, live status, history, reviews."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from screening import services
from screening.models import AuditEvent, Prediction, Review, Study
from tests.support.images import dicom_data, jpeg_data, png_data, upload
from tests.support.screener import FakeResult

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def study_make(clinician, enqueued, fake_screener):
    """Submit a study and drive each prediction to an outcome (None leaves it queued)."""

    def _make(*, owner=None, reference="", outcomes=("done",), result=None, seed=0):
        files = [png_upload_named(f"img{i}.png", seed=seed + i) for i in range(len(outcomes))]
        study = services.study_submit(owner=owner or clinician, files=files, reference=reference)
        for image, outcome in zip(study.images.order_by("position"), outcomes, strict=True):
            prediction = image.predictions.get(is_current=True)
            if outcome == "done":
                fake_screener.result = result or FakeResult()
                fake_screener.error = None
                services.prediction_execute(prediction_id=prediction.id)
            elif outcome == "rejected":
                fake_screener.result = FakeResult(
                    accepted=False, reason="lateral view", label=None, probabilities=None,
                    overlay_jpeg=None,
                )  # fmt: skip
                services.prediction_execute(prediction_id=prediction.id)
            elif outcome == "failed":
                services.prediction_fail(prediction_id=prediction.id, reason="decoder exploded")
            elif outcome == "running":
                Prediction.objects.filter(pk=prediction.pk).update(status="running")
        study.refresh_from_db()
        return study

    return _make


def png_upload_named(name: str, *, seed: int = 0) -> SimpleUploadedFile:
    return upload(name, png_data(seed=seed))


def login(client, user):
    client.force_login(user)
    return client


def current(study: Study) -> list[Prediction]:
    return list(
        Prediction.objects.filter(image__study=study, is_current=True).order_by("image__position")
    )


# --------------------------------------------------------------------------- roles, nav


def test_pages_need_login(client):
    for name in ("screening:history", "screening:study_create", "screening:review_queue"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_polling_after_logout_redirects_the_whole_page(client, study_make):
    study = study_make(outcomes=(None,))
    url = reverse("screening:study_status", args=[study.pk])
    page = reverse("screening:study_detail", args=[study.pk])
    response = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))
    assert "next=" in response["HX-Redirect"] and str(study.pk) in response["HX-Redirect"]


def test_nav_by_role(client, clinician, reviewer, admin_user):
    html = login(client, clinician).get(reverse("screening:history")).content.decode()
    assert "Case history" in html and "New study" in html
    assert "Review queue" not in html and reverse("admin:index") not in html

    html = login(client, reviewer).get(reverse("screening:history")).content.decode()
    assert "Review queue" in html

    html = login(client, admin_user).get(reverse("screening:history")).content.decode()
    assert "Review queue" in html and reverse("admin:index") in html


def test_disclaimer_and_no_inline_script_on_every_page(
    client, clinician, reviewer, study_make, settings
):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    pages = [
        (clinician, reverse("screening:history")),
        (clinician, reverse("screening:study_create")),
        (clinician, reverse("screening:study_detail", args=[study.pk])),
        (reviewer, reverse("screening:study_detail", args=[study.pk])),
        (reviewer, reverse("screening:review_queue")),
        (reviewer, reverse("screening:review_dashboard")),
    ]
    for user, url in pages:
        response = login(client, user).get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert settings.CXR_DISCLAIMER in html, url
        assert "Not a diagnostic device" in html
        # CSP: script only from our origin, never inline.
        for tag in re.findall(r"<script[^>]*>", html):
            assert 'src="/static/' in tag, (url, tag)
        assert " on" + "click=" not in html
    assert prediction.heatmap


@pytest.mark.parametrize(
    "path",
    [
        "portal/site.css",
        "screening/screening.css",
        "screening/screening.js",
        "screening/vendor/htmx.min.js",
    ],
)
def test_static_files_are_found(path):
    from django.contrib.staticfiles import finders

    assert finders.find(path), f"{path} is not served (STATICFILES_DIRS?)"


def test_review_pages_forbidden_to_clinicians(client, clinician, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    login(client, clinician)
    assert client.get(reverse("screening:review_queue")).status_code == 403
    assert client.get(reverse("screening:review_dashboard")).status_code == 403
    response = client.post(
        reverse("screening:prediction_review", args=[prediction.pk]), {"verdict": "agree"}
    )
    assert response.status_code == 403
    assert not Review.objects.exists()


# --------------------------------------------------------------------------- object permissions


def test_other_clinicians_study_and_files_are_404(client, other_clinician, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    login(client, other_clinician)
    urls = [
        reverse("screening:study_detail", args=[study.pk]),
        reverse("screening:study_status", args=[study.pk]),
        reverse("screening:image_thumbnail", args=[prediction.image_id]),
        reverse("screening:prediction_heatmap", args=[prediction.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    html = client.get(reverse("screening:history")).content.decode()
    assert study.reference not in html


def test_owner_and_reviewer_get_files(client, clinician, reviewer, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    for user in (clinician, reviewer):
        login(client, user)
        thumb = client.get(reverse("screening:image_thumbnail", args=[prediction.image_id]))
        assert thumb.status_code == 200
        # Submissions store JPEG thumbnails (cheap to make on the request path).
        assert thumb["Content-Type"] == "image/jpeg"
        assert b"".join(thumb.streaming_content).startswith(b"\xff\xd8\xff")
        heat = client.get(reverse("screening:prediction_heatmap", args=[prediction.pk]))
        assert heat.status_code == 200 and heat["Content-Type"] == "image/jpeg"
        assert b"".join(heat.streaming_content).startswith(b"\xff\xd8\xff")
        assert "private" in heat["Cache-Control"]


def test_heatmap_of_queued_prediction_is_404(client, clinician, study_make):
    study = study_make(outcomes=(None,))
    login(client, clinician)
    url = reverse("screening:prediction_heatmap", args=[current(study)[0].pk])
    assert client.get(url).status_code == 404


# --------------------------------------------------------------------------- submission


def test_submit_form_renders_limits(client, clinician, settings):
    html = login(client, clinician).get(reverse("screening:study_create")).content.decode()
    assert f'data-max-bytes="{settings.CXR_MAX_UPLOAD_BYTES}"' in html
    assert f'data-max-files="{settings.CXR_MAX_FILES_PER_STUDY}"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="files" id="id_files" multiple' in html
    assert '<label for="id_files">' in html and '<label for="id_reference">' in html


def test_submit_png_jpeg_dicom_redirects_to_study(client, clinician, enqueued):
    login(client, clinician)
    files = [
        upload("front.png", png_data(seed=1)),
        upload("front.jpg", jpeg_data(seed=2), "image/jpeg"),
        upload("front.dcm", dicom_data(seed=3), "application/dicom"),
    ]
    response = client.post(
        reverse("screening:study_create"), {"reference": "case-42", "files": files}
    )
    study = Study.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:study_detail", args=[study.pk])
    assert study.owner == clinician and study.reference == "case-42"
    assert sorted(study.images.values_list("format", flat=True)) == ["dicom", "jpeg", "png"]
    assert all(p.status == "queued" for p in current(study))


def test_submit_via_xhr_answers_json(client, clinician, enqueued):
    login(client, clinician)
    response = client.post(
        reverse("screening:study_create"),
        {"files": [upload("a.png", png_data())]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201
    study = Study.objects.get()
    assert response.json()["redirect"] == reverse("screening:study_detail", args=[study.pk])


def test_submit_bad_file_is_400_naming_file_and_stores_nothing(client, clinician, enqueued):
    login(client, clinician)
    files = [upload("good.png", png_data()), upload("notes.txt", b"just text\n", "text/plain")]
    response = client.post(reverse("screening:study_create"), {"files": files})
    assert response.status_code == 400
    html = response.content.decode()
    assert "notes.txt" in html and "not a PNG, JPEG or DICOM" in html
    assert 'role="alert"' in html
    assert not Study.objects.exists()

    response = client.post(
        reverse("screening:study_create"),
        {"files": [upload("empty.png", b"")]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and any("empty" in e for e in errors)


def test_submit_without_files_or_too_many_is_400(client, clinician, enqueued, settings):
    login(client, clinician)
    response = client.post(reverse("screening:study_create"), {"reference": "x"})
    assert response.status_code == 400
    assert "at least one" in response.content.decode()

    settings.CXR_MAX_FILES_PER_STUDY = 2
    files = [upload(f"{i}.png", png_data(seed=i)) for i in range(3)]
    response = client.post(reverse("screening:study_create"), {"files": files})
    assert response.status_code == 400
    assert "Too many files" in response.content.decode()
    assert not Study.objects.exists()


def test_submit_too_large_is_400(client, clinician, enqueued, settings):
    settings.CXR_MAX_UPLOAD_BYTES = 1000
    login(client, clinician)
    response = client.post(
        reverse("screening:study_create"), {"files": [upload("big.png", png_data())]}
    )
    assert response.status_code == 400
    assert "big.png" in response.content.decode()


# --------------------------------------------------------------------------- study page


def test_study_page_shows_results_heatmap_reason_and_error(client, clinician, study_make):
    study = study_make(reference="mixed-1", outcomes=("done", "rejected", "failed"))
    done = current(study)[0]
    html = (
        login(client, clinician)
        .get(reverse("screening:study_detail", args=[study.pk]))
        .content.decode()
    )
    assert "mixed-1" in html
    assert reverse("screening:prediction_heatmap", args=[done.pk]) in html
    assert reverse("screening:image_thumbnail", args=[done.image_id]) in html
    assert "data-heat-toggle" in html and "data-heat-opacity" in html
    assert "Pneumonia (other)" in html  # the label
    assert "70.0%" in html and "10.0%" in html and "20.0%" in html  # probability bars
    assert "fake-model" in html and "9.9.9" in html
    assert "lateral view" in html  # the gate's reason
    assert "decoder exploded" in html  # the failure
    assert 'hx-trigger="every 1s"' not in html  # final: no polling
    assert "Not reviewed yet" in html
    assert 'name="verdict"' not in html  # clinicians get no review form


def test_status_partial_polls_until_final_then_stops(client, clinician, study_make, fake_screener):
    study = study_make(outcomes=(None, "running"))
    first, second = current(study)
    login(client, clinician)
    page = client.get(reverse("screening:study_detail", args=[study.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "Processing" in page
    assert '<noscript><meta http-equiv="refresh"' in page  # without JS: reload while pending

    url = reverse("screening:study_status", args=[study.pk])
    seen = f"{first.image_id}:queued,{second.image_id}:running"
    # Nothing changed since what the page has seen: 204, htmx swaps nothing and polls on.
    response = client.get(url, {"seen": seen}, **HTMX)
    assert response.status_code == 204 and response.content == b""
    response = client.get(url, {"seen": f"{first.image_id}:queued"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in html
    assert f'id="image-{first.image_id}"' not in html  # its status is what the page shows
    assert "<html" not in html  # a partial

    services.prediction_execute(prediction_id=first.pk)
    html = client.get(url, {"seen": seen}, **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in html  # second still running
    assert f'id="image-{first.image_id}"' in html and 'hx-swap-oob="true"' in html
    assert f'id="image-{second.image_id}"' not in html

    services.prediction_fail(prediction_id=second.pk, reason="worker lost")
    html = client.get(url, {"seen": f"{first.image_id}:done,{second.image_id}:running"}, **HTMX)
    html = html.content.decode()
    assert "hx-trigger" not in html and "hx-get" not in html  # polling stops
    assert 'data-final="true"' in html and "Done" in html
    assert f'id="image-{second.image_id}"' in html and "worker lost" in html


def test_reviewer_sees_review_form_and_reviews(client, reviewer, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    html = (
        login(client, reviewer)
        .get(reverse("screening:study_detail", args=[study.pk]))
        .content.decode()
    )
    assert reverse("screening:prediction_review", args=[prediction.pk]) in html
    assert 'name="verdict" value="agree"' in html and 'name="verdict" value="disagree"' in html
    assert f'<label for="label-{prediction.pk}">' in html


# --------------------------------------------------------------------------- reviews


def test_review_agree_via_htmx(client, reviewer, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    login(client, reviewer)
    url = reverse("screening:prediction_review", args=[prediction.pk])
    response = client.post(url, {"verdict": "agree", "label": "covid", "note": "fine"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Review saved" in html and "rev-carol" in html and "fine" in html
    review = Review.objects.get()
    assert (review.verdict, review.label, review.reviewer) == ("agree", "pneumonia", reviewer)
    assert AuditEvent.objects.filter(action__startswith="review.").exists()


def test_review_disagree_needs_label_then_saves(client, reviewer, study_make):
    study = study_make(outcomes=("done",))
    prediction = current(study)[0]
    login(client, reviewer)
    url = reverse("screening:prediction_review", args=[prediction.pk])
    response = client.post(url, {"verdict": "disagree"}, **HTMX)
    assert response.status_code == 400
    assert "when you disagree" in response.content.decode()
    assert "<html" not in response.content.decode()  # the block, swapped in place
    response = client.post(url, {"verdict": "disagree"})  # without JS: a whole page
    assert response.status_code == 400
    assert "when you disagree" in response.content.decode()
    assert "Not a diagnostic device" in response.content.decode()
    assert not Review.objects.exists()

    next_url = reverse("screening:review_queue")
    response = client.post(url, {"verdict": "disagree", "label": "covid", "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    assert Review.objects.get().label == "covid"

    response = client.post(url, {"verdict": "agree", "next": "https://evil.example/"})
    assert response["Location"] == reverse("screening:study_detail", args=[study.pk])
    assert Review.objects.get().verdict == "agree"  # updated, still one


def test_review_queue_oldest_first_and_dashboard(client, reviewer, clinician, study_make):
    old = study_make(reference="old-one", outcomes=("done",), seed=1)
    new = study_make(reference="new-one", outcomes=("done",), seed=2)
    study_make(reference="refused-one", outcomes=("rejected",), seed=3)
    Prediction.objects.filter(pk=current(old)[0].pk).update(
        created=timezone.now() - timedelta(days=2)
    )
    login(client, reviewer)
    html = client.get(reverse("screening:review_queue")).content.decode()
    assert html.index("old-one") < html.index("new-one")
    assert "refused-one" not in html
    assert html.count('data-testid="queue-item"') == 2

    services.review_record(prediction=current(old)[0], reviewer=reviewer, verdict="agree",
                           label=None)  # fmt: skip
    services.review_record(prediction=current(new)[0], reviewer=reviewer, verdict="disagree",
                           label="covid")  # fmt: skip
    html = client.get(reverse("screening:review_queue")).content.decode()
    assert "old-one" not in html and "queue is empty" in html

    html = client.get(reverse("screening:review_dashboard")).content.decode()
    assert "fake-model" in html and "9.9.9" in html and "50.0%" in html


# --------------------------------------------------------------------------- history


def test_history_scoped_filtered_searched(client, clinician, other_clinician, reviewer, study_make):
    study_make(reference="alpha-covid", outcomes=("done",), result=FakeResult(
        label="covid", probabilities={"covid": 0.8, "pneumonia": 0.1, "normal": 0.1}))  # fmt: skip
    pneu = study_make(reference="beta-pneu", outcomes=("done",), seed=5)
    study_make(reference="gamma-queued", outcomes=(None,), seed=6)
    study_make(owner=other_clinician, reference="delta-other", outcomes=("done",), seed=7)
    services.review_record(prediction=current(pneu)[0], reviewer=reviewer, verdict="agree",
                           label=None)  # fmt: skip

    def refs(user, **params):
        html = login(client, user).get(reverse("screening:history"), params).content.decode()
        return {r for r in ("alpha-covid", "beta-pneu", "gamma-queued", "delta-other")
                if r in html}  # fmt: skip

    assert refs(clinician) == {"alpha-covid", "beta-pneu", "gamma-queued"}
    assert refs(reviewer) == {"alpha-covid", "beta-pneu", "gamma-queued", "delta-other"}
    assert refs(clinician, label="covid") == {"alpha-covid"}
    assert refs(clinician, status="processing") == {"gamma-queued"}
    assert refs(clinician, reviewed="true") == {"beta-pneu"}
    assert refs(clinician, reviewed="false") == {"alpha-covid", "gamma-queued"}
    assert refs(clinician, reference="BETA") == {"beta-pneu"}
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert refs(clinician, created_after=tomorrow) == set()
    assert refs(clinician, created_after=yesterday, created_before=tomorrow) == {
        "alpha-covid", "beta-pneu", "gamma-queued"
    }  # fmt: skip
    html = client.get(reverse("screening:history")).content.decode()
    assert 'type="date"' in html and 'name="reference"' in html


def test_history_ignores_invalid_filters_and_keeps_them_in_export_link(
    client, clinician, study_make
):
    study_make(reference="still-here", outcomes=("done",))
    login(client, clinician)
    response = client.get(
        reverse("screening:history"),
        {"label": "bogus", "created_after": "not-a-date", "page": "999", "reference": "still"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "still-here" in html
    assert reverse("screening:history_export") + "?label=bogus" in html


def test_dashboard_without_reviews(client, reviewer):
    html = login(client, reviewer).get(reverse("screening:review_dashboard")).content.decode()
    assert "No reviews yet" in html


def _bulk_studies(*, owner, count: int, template: Study) -> None:
    """Clone `template` (one image, one prediction) `count` times, cheaply."""
    image = template.images.get()
    prediction = current(template)[0]
    for i in range(count):
        study = Study.objects.create(
            owner=owner, reference=f"bulk-{i:03d}", status="done", labels=f"|{prediction.label}|"
        )
        clone = type(image).objects.create(
            study=study, file=image.file.name, thumbnail=image.thumbnail.name,
            original_name=image.original_name, format=image.format, sha256=image.sha256,
            size_bytes=image.size_bytes,
        )  # fmt: skip
        Prediction.objects.create(
            image=clone, status="done", label=prediction.label,
            probabilities=prediction.probabilities, model_name="m", model_version="1",
        )  # fmt: skip


def test_history_paginates_by_25_without_n_plus_1(
    client, clinician, reviewer, study_make, django_assert_max_num_queries
):
    template = study_make(reference="template", outcomes=("done",))
    _bulk_studies(owner=clinician, count=5, template=template)
    login(client, clinician)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("screening:history"))
    _bulk_studies(owner=clinician, count=40, template=template)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("screening:history"))
    assert len(many) == len(few)  # constant, whatever the page holds
    html = response.content.decode()
    assert html.count("<tr>") - 1 == 25  # header row + 25
    assert "Page 1 of 2" in html
    page2 = client.get(reverse("screening:history"), {"page": 2, "label": "pneumonia"})
    assert page2.content.decode().count("<tr>") - 1 == 46 - 25
    assert "label=pneumonia" in page2.content.decode()  # links keep the filters


def test_csv_export_filtered_and_audited(client, clinician, study_make):
    study_make(reference="=cmd|evil", outcomes=("done",))
    study_make(reference="keep-out", outcomes=("rejected",), seed=3)
    login(client, clinician)
    for url, params in (
        (reverse("screening:history_export"), {"label": "pneumonia"}),
        (reverse("screening:history"), {"label": "pneumonia", "format": "csv"}),
    ):
        response = client.get(url, params)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        text = b"".join(response.streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 1
        assert rows[0]["reference"] == "'=cmd|evil"  # no formula injection
        assert rows[0]["label"] == "pneumonia" and rows[0]["p_pneumonia"] == "0.7"
        assert rows[0]["model_version"] == "9.9.9"
    events = AuditEvent.objects.filter(action="studies.export")
    assert events.count() == 2
    assert events.first().detail["filters"] == {"label": "pneumonia"}
