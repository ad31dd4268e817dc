"""What the screening pages share: login for htmx, the reviewer check, image cards."""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from screening import selectors
from screening.models import REVIEW_NOTE_MAX_LENGTH, Image, Label, Prediction
from screening.permissions import user_may_review

PAGE_SIZE = 25


def login_required_htmx(view):
    """Like login_required, but send htmx requests to the login page by a client redirect."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            target = request.htmx.current_url_abs_path or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(target).url)
        return login_required(view)(request, *args, **kwargs)

    return wrapper


def reviewer_require(*, request: HttpRequest) -> None:
    """Raise PermissionDenied unless the user reviews (call after any object lookup: 404 first)."""
    if not user_may_review(user=request.user):
        raise PermissionDenied("Reviewers only.")


def wants_json(*, request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def safe_next(*, request: HttpRequest, fallback: str) -> str:
    """Return the ?next= target when it stays on this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def study_url(*, prediction: Prediction) -> str:
    return reverse("screening:study_detail", kwargs={"study_id": prediction.image.study_id})


def card_build(
    *,
    image: Image,
    prediction: Prediction | None,
    user,
    may_review: bool,
    reviews: list | None = None,
) -> dict:
    """Bundle an image, its current prediction, its reviews and what the viewer may do."""
    if reviews is None:
        reviews = list(prediction.reviews.all()) if prediction else []
    return {
        "image": image,
        "prediction": prediction,
        "reviews": reviews,
        "own_review": next((r for r in reviews if r.reviewer_id == user.pk), None),
        "can_review": bool(
            may_review and prediction and prediction.status == Prediction.Status.DONE
        ),
        "bars": probability_bars(prediction=prediction),
        "labels": Label.choices,
        "note_max": REVIEW_NOTE_MAX_LENGTH,
    }


def image_cards(*, images: Iterable[Image], user, may_review: bool) -> list[dict]:
    """Pair each image with its current prediction (prefetched by the selectors)."""
    return [
        card_build(
            image=image,
            prediction=selectors.image_current_prediction(image=image),
            user=user,
            may_review=may_review,
        )
        for image in images
    ]


def probability_bars(*, prediction: Prediction | None) -> list[dict]:
    """Return one bar per label the prediction has a probability for."""
    probabilities = (prediction.probabilities or {}) if prediction else {}
    bars = []
    for value, name in Label.choices:
        p = probabilities.get(value)
        if p is None:
            continue
        p = float(p)
        bars.append({"value": value, "name": name, "p": p, "percent": round(p * 100, 1)})
    return bars
