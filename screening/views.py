"""Screening web views: thin, reads through selectors, writes through services."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from screening import selectors, services
from screening.filters import StudyFilter
from screening.forms import (
    ACCEPTED_EXTENSIONS,
    ACCEPTED_TYPES,
    ReviewForm,
    StudySubmitForm,
    filter_form_dress,
    form_error_messages,
)
from screening.models import Image, Label, Prediction, Review, Study
from screening.permissions import user_may_review

PAGE_SIZE = 25
CSV_COLUMNS = (
    "study_id", "reference", "owner", "study_status", "created", "image_id", "position",
    "original_name", "format", "prediction_status", "label", "p_covid", "p_pneumonia",
    "p_normal", "model_name", "model_version", "reason", "reviews", "review_verdicts",
)  # fmt: skip


# --------------------------------------------------------------------------- helpers


def login_required_htmx(view):
    """Like login_required, but send htmx requests to the login page by a client redirect."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            target = request.htmx.current_url_abs_path or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(target).url)
        return login_required(view)(request, *args, **kwargs)

    return wrapper


def _reviewer_required(request: HttpRequest) -> None:
    if not user_may_review(user=request.user):
        raise PermissionDenied("Reviewers only.")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _card(*, image: Image, prediction: Prediction | None, user, may_review: bool) -> dict:
    """Bundle an image, its current prediction, its reviews and what the viewer may do."""
    reviews = list(prediction.reviews.all()) if prediction else []
    return {
        "image": image,
        "prediction": prediction,
        "reviews": reviews,
        "own_review": next((r for r in reviews if r.reviewer_id == user.pk), None),
        "can_review": bool(
            may_review and prediction and prediction.status == Prediction.Status.DONE
        ),
        "bars": _probability_bars(prediction),
        "labels": Label.choices,
    }


def _image_cards(*, images: Iterable[Image], user, may_review: bool) -> list[dict]:
    """Pair each image with its current prediction (prefetched by the selectors)."""
    return [
        _card(
            image=image,
            prediction=selectors.image_current_prediction(image=image),
            user=user,
            may_review=may_review,
        )
        for image in images
    ]


def _probability_bars(prediction: Prediction | None) -> list[dict]:
    probabilities = (prediction.probabilities or {}) if prediction else {}
    bars = []
    for value, name in Label.choices:
        p = probabilities.get(value)
        if p is None:
            continue
        p = float(p)
        bars.append({"value": value, "name": name, "p": p, "percent": round(p * 100, 1)})
    return bars


def _status_summary(cards: list[dict]) -> tuple[bool, str]:
    statuses = [c["prediction"].status if c["prediction"] else "" for c in cards]
    final = all(s in Prediction.FINAL_STATUSES for s in statuses)
    return final, ",".join(f"{c['image'].pk}:{s}" for c, s in zip(cards, statuses, strict=True))


def _seen_parse(raw: str) -> dict[str, str]:
    seen = {}
    for part in raw.split(",")[: settings.CXR_MAX_FILES_PER_STUDY * 2]:
        image_id, _, status = part.partition(":")
        if image_id:
            seen[image_id] = status
    return seen


def _audit_view(request: HttpRequest, *, action: str, obj) -> None:
    """Record that the user looked at patient data (pages and files, not status polls)."""
    services.audit_record(
        actor=request.user,
        action=action,
        obj=obj,
        meta=services.request_meta_from(request=request),
    )


def _file_response(*, field: FieldFile, content_type: str, filename: str) -> FileResponse:
    if not field:
        raise Http404("No such file.")
    try:
        handle = field.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("No such file.") from exc
    response = FileResponse(handle, content_type=content_type, filename=filename)
    response["Cache-Control"] = "private, max-age=300"
    return response


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _study_filterset(request: HttpRequest) -> StudyFilter:
    queryset = selectors.study_list_for(user=request.user)
    filterset = StudyFilter(request.GET or None, queryset=queryset, request=request)
    filter_form_dress(form=filterset.form)
    return filterset


# --------------------------------------------------------------------------- submit


@login_required
@require_http_methods(["GET", "POST"])
def study_create(request: HttpRequest) -> HttpResponse:
    """Show the submission form; store the study and send the user to its page."""
    form = StudySubmitForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                study = services.study_submit(
                    owner=request.user,
                    files=form.cleaned_data["files"],
                    reference=form.cleaned_data["reference"],
                    meta=services.request_meta_from(request=request),
                )
            except services.SubmissionError as exc:
                form.add_error(None, exc.message)
            else:
                url = reverse("screening:study_detail", kwargs={"study_id": study.pk})
                if _wants_json(request):
                    return JsonResponse({"id": str(study.pk), "redirect": url}, status=201)
                return redirect(url)
        status = 400
        if _wants_json(request):
            return JsonResponse({"errors": form_error_messages(form=form)}, status=400)
    context = {
        "form": form,
        "max_bytes": settings.CXR_MAX_UPLOAD_BYTES,
        "max_mb": settings.CXR_MAX_UPLOAD_BYTES / (1024 * 1024),
        "max_files": settings.CXR_MAX_FILES_PER_STUDY,
        "accept": ",".join((*ACCEPTED_EXTENSIONS, *ACCEPTED_TYPES)),
        "extensions": " ".join(ACCEPTED_EXTENSIONS),
    }
    return render(request, "screening/study_form.html", context, status=status)


# --------------------------------------------------------------------------- model card


@login_required
@require_GET
def model_card(request: HttpRequest) -> HttpResponse:
    """Show what the model is, how it scored on held-out images, and what it cannot do."""
    card = selectors.model_card_summary()
    return render(request, "screening/model_card.html", {"card": card}, status=200 if card else 503)


# --------------------------------------------------------------------------- study page


@login_required
@require_GET
def study_detail(request: HttpRequest, study_id) -> HttpResponse:
    """Show one study: live status, predictions, heatmaps and reviews."""
    study = selectors.study_get_for(user=request.user, study_id=study_id)
    _audit_view(request, action="study.view", obj=study)
    cards = _image_cards(
        images=study.images.all(), user=request.user, may_review=user_may_review(user=request.user)
    )
    final, seen = _status_summary(cards)
    context = {"study": study, "cards": cards, "final": final, "seen": seen}
    return render(request, "screening/study_detail.html", context)


@login_required_htmx
@require_GET
def study_status(request: HttpRequest, study_id) -> HttpResponse:
    """Return the live status partial (htmx); it carries no poll trigger once all are final."""
    study = selectors.study_get_for(user=request.user, study_id=study_id)
    cards = _image_cards(
        images=study.images.all(), user=request.user, may_review=user_may_review(user=request.user)
    )
    final, seen = _status_summary(cards)
    previous = _seen_parse(request.GET.get("seen", ""))
    changed = [
        c
        for c in cards
        if previous.get(str(c["image"].pk)) != (c["prediction"].status if c["prediction"] else "")
    ]
    context = {"study": study, "cards": cards, "final": final, "seen": seen, "changed": changed}
    response = render(request, "screening/partials/study_status.html", context)
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- files


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, image_id) -> HttpResponse:
    """Stream an image's PNG thumbnail to a user who may see it."""
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    _audit_view(request, action="thumbnail.view", obj=image)
    if image.thumbnail:
        return _file_response(
            field=image.thumbnail, content_type="image/png", filename=f"{image.pk}-thumb.png"
        )
    if image.format in (Image.Format.PNG, Image.Format.JPEG):
        content_type = "image/png" if image.format == Image.Format.PNG else "image/jpeg"
        return _file_response(field=image.file, content_type=content_type, filename=str(image.pk))
    raise Http404("No thumbnail yet.")


@login_required
@require_GET
def prediction_heatmap(request: HttpRequest, prediction_id) -> HttpResponse:
    """Stream a prediction's Grad-CAM heatmap PNG to a user who may see it."""
    prediction = selectors.prediction_get_for(user=request.user, prediction_id=prediction_id)
    if not prediction.heatmap:
        raise Http404("No such file.")
    _audit_view(request, action="heatmap.view", obj=prediction)
    return _file_response(
        field=prediction.heatmap, content_type="image/png", filename=f"{prediction.pk}-heatmap.png"
    )


# --------------------------------------------------------------------------- history


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Show the user's case history (reviewers: everyone's), filtered and paginated."""
    if request.GET.get("format") == "csv":
        return history_export(request)
    filterset = _study_filterset(request)
    paginator = Paginator(filterset.qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    may_review = user_may_review(user=request.user)
    rows = []
    for study in page.object_list:
        cards = _image_cards(images=study.images.all(), user=request.user, may_review=False)
        rows.append(
            {"study": study, "cards": cards, "reviews": sum(len(c["reviews"]) for c in cards)}
        )
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    context = {
        "filterset": filterset,
        "may_review": may_review,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
    }
    return render(request, "screening/history.html", context)


@login_required
@require_GET
def history_export(request: HttpRequest) -> HttpResponse:
    """Stream the filtered case history as CSV (one row per image) and audit the export."""
    filterset = _study_filterset(request)
    queryset = filterset.qs
    services.audit_record(
        actor=request.user,
        action="studies.export",
        obj=request.user,
        meta=services.request_meta_from(request=request),
        detail={"filters": {k: v for k, v in request.GET.items() if k != "format"}},
    )
    filename = f"cxrscreen-studies-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(
        _csv_lines(studies=queryset.iterator(chunk_size=500), user=request.user),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_safe(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a user-chosen text must never start a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_lines(*, studies: Iterable[Study], user) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for study in studies:
        for card in _image_cards(images=study.images.all(), user=user, may_review=False):
            image, prediction = card["image"], card["prediction"]
            probabilities = (prediction.probabilities or {}) if prediction else {}
            reviews = card["reviews"]
            yield writer.writerow(
                [
                    study.pk,
                    _csv_safe(study.reference),
                    _csv_safe(study.owner.username),
                    study.status,
                    study.created.isoformat(),
                    image.pk,
                    image.position,
                    _csv_safe(image.original_name),
                    image.format,
                    prediction.status if prediction else "",
                    prediction.label if prediction else "",
                    probabilities.get("covid", ""),
                    probabilities.get("pneumonia", ""),
                    probabilities.get("normal", ""),
                    prediction.model_name if prediction else "",
                    prediction.model_version if prediction else "",
                    _csv_safe(prediction.reason) if prediction else "",
                    len(reviews),
                    ";".join(r.verdict for r in reviews),
                ]
            )


# --------------------------------------------------------------------------- review


@login_required_htmx
@require_POST
def prediction_review(request: HttpRequest, prediction_id) -> HttpResponse:
    """Record the reviewer's verdict on a prediction; answer htmx with the updated block."""
    _reviewer_required(request)
    prediction = selectors.prediction_get_for(user=request.user, prediction_id=prediction_id)
    form = ReviewForm(request.POST)
    error = None
    if form.is_valid():
        verdict = form.cleaned_data["verdict"]
        label = form.cleaned_data["label"] if verdict == Review.Verdict.DISAGREE else None
        try:
            services.review_record(
                prediction=prediction,
                reviewer=request.user,
                verdict=verdict,
                label=label or None,
                note=form.cleaned_data["note"],
                meta=services.request_meta_from(request=request),
            )
        except services.ReviewError as exc:
            error = exc.message
        else:
            if not request.htmx:
                return redirect(_safe_next(request, _study_url(prediction)))
            prediction = selectors.prediction_get_for(
                user=request.user, prediction_id=prediction_id
            )
            form = ReviewForm()
    saved = not form.is_bound
    context = {
        "card": _card(
            image=prediction.image, prediction=prediction, user=request.user, may_review=True
        ),
        "form": form,
        "error": error,
        "saved": saved,
        "next": _safe_next(request, ""),
        "back": _safe_next(request, _study_url(prediction)),
    }
    template = "screening/partials/review_block.html" if request.htmx else "screening/review.html"
    return render(request, template, context, status=200 if saved else 400)


def _study_url(prediction: Prediction) -> str:
    return reverse("screening:study_detail", kwargs={"study_id": prediction.image.study_id})


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """List unreviewed predictions, oldest first, each with a review form (reviewers only)."""
    _reviewer_required(request)
    paginator = Paginator(selectors.review_queue_for(user=request.user), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    items = [
        {
            "prediction": prediction,
            "image": prediction.image,
            "study": prediction.image.study,
            "bars": _probability_bars(prediction),
            "card": {
                "image": prediction.image,
                "prediction": prediction,
                "reviews": [],
                "own_review": None,
                "can_review": True,
                "labels": Label.choices,
            },
        }
        for prediction in page.object_list
    ]
    context = {"page": page, "items": items, "form": ReviewForm()}
    return render(request, "screening/review_queue.html", context)


@login_required
@require_GET
def review_dashboard(request: HttpRequest) -> HttpResponse:
    """Show reviewers' agreement with the model, per model version (reviewers only)."""
    _reviewer_required(request)
    rows = selectors.agreement_by_model_version()
    for row in rows:
        rate = row.get("rate")
        row["percent"] = round(rate * 100, 1) if rate is not None else None
    return render(request, "screening/review_dashboard.html", {"rows": rows})
