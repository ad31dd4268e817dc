"""Submit a study, follow it live, read about the model."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from screening import selectors, services
from screening.conditional import conditional_headers_set, etag_for_viewer, not_modified_or_none
from screening.forms import (
    ACCEPTED_EXTENSIONS,
    ACCEPTED_TYPES,
    StudySubmitForm,
    form_error_messages,
)
from screening.models import Prediction, Study
from screening.permissions import user_may_review
from screening.roc_chart import chart_frame, roc_charts_build
from screening.views.common import image_cards, login_required_htmx, wants_json


@login_required
@require_http_methods(["GET", "POST"])
def study_create(request: HttpRequest) -> HttpResponse:
    """Show the submission form; store the study and send the user to its page."""
    form = StudySubmitForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                study = services.study_submit(
                    owner=request.user,
                    files=form.cleaned_data["files"],
                    reference=form.cleaned_data["reference"],
                    meta=services.request_meta_from(request=request),
                    idempotency_key=submission_key_of(request=request),
                )
            except services.SubmissionError as exc:
                form.add_error(None, exc.message)
            else:
                url = reverse("screening:study_detail", kwargs={"study_id": study.pk})
                if wants_json(request=request):
                    body = {"id": str(study.pk), "redirect": url, "replayed": study.replayed}
                    return JsonResponse(body, status=200 if study.replayed else 201)
                return redirect(url)
        if wants_json(request=request):
            return JsonResponse({"errors": form_error_messages(form=form)}, status=400)
    context = {
        "form": form,
        "max_bytes": settings.CXR_MAX_UPLOAD_BYTES,
        "max_mb": settings.CXR_MAX_UPLOAD_BYTES / (1024 * 1024),
        "max_files": settings.CXR_MAX_FILES_PER_STUDY,
        "accept": ",".join((*ACCEPTED_EXTENSIONS, *ACCEPTED_TYPES)),
        "extensions": " ".join(ACCEPTED_EXTENSIONS),
        "submission_key": uuid.uuid4().hex,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "screening/study_form.html", context, status=status)


def submission_key_of(*, request: HttpRequest) -> str:
    """The upload's idempotency key: the upload script's header, else one made from the form.

    Without JavaScript the page's hidden `submission_key` and what was sent (the reference and
    the files' bytes) make the key, so that a browser sending the same form again gets the
    stored study, while the page reused for other files (the Back button) makes a new one.
    """
    header = request.headers.get("Idempotency-Key", "")
    page_key = request.POST.get("submission_key", "")
    if header or not page_key:
        return header
    digest = hashlib.sha256(page_key.encode("utf-8", "replace"))
    digest.update(b"\0" + request.POST.get("reference", "").encode("utf-8", "replace"))
    for upload in request.FILES.getlist("files"):
        digest.update(b"\0")
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
    return f"form-{digest.hexdigest()[:40]}"


@login_required
@require_GET
def model_card(request: HttpRequest) -> HttpResponse:
    """Show what the model is, how it scored on held-out images, and what it cannot do."""
    card = selectors.model_card_summary()
    context = {"card": card}
    if card and card["operating"]:
        context["charts"] = roc_charts_build(operating=card["operating"])
        context["frame"] = chart_frame()
    return render(request, "screening/model_card.html", context, status=200 if card else 503)


@login_required
@require_GET
def study_detail(request: HttpRequest, study_id) -> HttpResponse:
    """Show one study: live status, predictions, heatmaps and reviews (304 when unchanged)."""
    progress = selectors.study_progress_for(user=request.user, study_id=study_id)
    etag = etag_for_viewer(request=request, fingerprint=progress.fingerprint)
    # Every read is audited, also one the browser answers from its own copy.
    services.audit_request_record(
        request=request, action="study.view", obj=Study(pk=progress.study_id)
    )
    unchanged = not_modified_or_none(request=request, etag=etag)
    if unchanged is not None:
        return unchanged
    study = selectors.study_get_for(user=request.user, study_id=study_id)
    cards = image_cards(
        images=study.images.all(), user=request.user, may_review=user_may_review(user=request.user)
    )
    final, seen = _status_summary(cards=cards)
    context = {"study": study, "cards": cards, "final": final, "seen": seen}
    response = render(request, "screening/study_detail.html", context)
    return conditional_headers_set(response=response, etag=etag)


@login_required_htmx
@require_GET
def study_status(request: HttpRequest, study_id) -> HttpResponse:
    """Return the live status partial (htmx); it carries no poll trigger once all are final.

    When nothing changed since the statuses the page has seen, answer 204 (htmx swaps
    nothing and keeps polling) from one query.
    """
    progress = selectors.study_progress_for(user=request.user, study_id=study_id)
    previous = _seen_parse(raw=request.GET.get("seen", ""))
    now = {str(image_id): status for image_id, _, status in progress.images}
    if previous == now and not progress.final:
        response = HttpResponse(status=204)
        response["Cache-Control"] = "no-store"
        return response
    study = selectors.study_get_for(user=request.user, study_id=study_id)
    cards = image_cards(
        images=study.images.all(), user=request.user, may_review=user_may_review(user=request.user)
    )
    final, seen = _status_summary(cards=cards)
    changed = [c for c in cards if previous.get(str(c["image"].pk)) != _card_status(card=c)]
    context = {"study": study, "cards": cards, "final": final, "seen": seen, "changed": changed}
    response = render(request, "screening/partials/study_status.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _card_status(*, card: dict) -> str:
    return card["prediction"].status if card["prediction"] else ""


def _status_summary(*, cards: list[dict]) -> tuple[bool, str]:
    """Return whether every prediction is final, and the "image:status,..." the page has seen."""
    statuses = [_card_status(card=c) for c in cards]
    final = all(s in Prediction.FINAL_STATUSES for s in statuses)
    return final, ",".join(f"{c['image'].pk}:{s}" for c, s in zip(cards, statuses, strict=True))


def _seen_parse(*, raw: str) -> dict[str, str]:
    seen = {}
    for part in raw.split(",")[: settings.CXR_MAX_FILES_PER_STUDY * 2]:
        image_id, _, status = part.partition(":")
        if image_id:
            seen[image_id] = status
    return seen
