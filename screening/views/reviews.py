"""Reviewers' pages: record a verdict, the queue of unreviewed predictions, agreement figures."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from screening import selectors, services
from screening.forms import ReviewForm
from screening.models import Review
from screening.views.common import (
    PAGE_SIZE,
    card_build,
    login_required_htmx,
    probability_bars,
    reviewer_require,
    safe_next,
    study_url,
)


@login_required_htmx
@require_POST
def prediction_review(request: HttpRequest, prediction_id) -> HttpResponse:
    """Record the reviewer's verdict on a prediction; answer htmx with the updated block."""
    # 404 first: a clinician must not learn that another user's prediction exists.
    prediction = selectors.prediction_get_for(user=request.user, prediction_id=prediction_id)
    reviewer_require(request=request)
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
                return redirect(
                    safe_next(request=request, fallback=study_url(prediction=prediction))
                )
            prediction = selectors.prediction_get_for(
                user=request.user, prediction_id=prediction_id
            )
            form = ReviewForm()
    saved = not form.is_bound
    context = {
        "card": card_build(
            image=prediction.image, prediction=prediction, user=request.user, may_review=True
        ),
        "form": form,
        "error": error,
        "saved": saved,
        "next": safe_next(request=request, fallback=""),
        "back": safe_next(request=request, fallback=study_url(prediction=prediction)),
    }
    template = "screening/partials/review_block.html" if request.htmx else "screening/review.html"
    return render(request, template, context, status=200 if saved else 400)


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """List unreviewed predictions, oldest first, each with a review form (reviewers only)."""
    reviewer_require(request=request)
    paginator = Paginator(selectors.review_queue_for(user=request.user), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    items = [
        {
            "prediction": prediction,
            "image": prediction.image,
            "study": prediction.image.study,
            "bars": probability_bars(prediction=prediction),
            # The queue holds unreviewed predictions only: no reviews to read.
            "card": card_build(
                image=prediction.image,
                prediction=prediction,
                user=request.user,
                may_review=True,
                reviews=[],
            ),
        }
        for prediction in page.object_list
    ]
    context = {"page": page, "items": items, "form": ReviewForm()}
    return render(request, "screening/review_queue.html", context)


@login_required
@require_GET
def review_dashboard(request: HttpRequest) -> HttpResponse:
    """Show reviewers' agreement with the model per model version, over the studies the
    reviewer may see (their site's; admins: all)."""
    reviewer_require(request=request)
    rows = selectors.agreement_by_model_version(user=request.user)
    for row in rows:
        rate = row.get("rate")
        row["percent"] = round(rate * 100, 1) if rate is not None else None
    return render(request, "screening/review_dashboard.html", {"rows": rows})
