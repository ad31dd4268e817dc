"""The case history: filtered, paginated, and exported as CSV."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from screening import selectors, services
from screening.exports import studies_csv_lines
from screening.filters import StudyFilter
from screening.forms import filter_form_dress
from screening.pagination import CountCappedPaginator
from screening.permissions import user_may_review
from screening.views.common import PAGE_SIZE, image_cards


def _study_filterset(*, request: HttpRequest) -> StudyFilter:
    queryset = selectors.study_list_for(user=request.user)
    filterset = StudyFilter(request.GET or None, queryset=queryset, request=request)
    filter_form_dress(form=filterset.form)
    return filterset


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Show the user's case history (reviewers: everyone's), filtered and paginated."""
    if request.GET.get("format") == "csv":
        return history_export(request)
    filterset = _study_filterset(request=request)
    page = CountCappedPaginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for study in page.object_list:
        cards = image_cards(images=study.images.all(), user=request.user, may_review=False)
        rows.append(
            {"study": study, "cards": cards, "reviews": sum(len(c["reviews"]) for c in cards)}
        )
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    context = {
        "filterset": filterset,
        "may_review": user_may_review(user=request.user),
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
    }
    return render(request, "screening/history.html", context)


@login_required
@require_GET
def history_export(request: HttpRequest) -> HttpResponse:
    """Stream the filtered case history as CSV (one row per image) and audit the export."""
    filterset = _study_filterset(request=request)
    services.audit_request_record(
        request=request,
        action="studies.export",
        obj=request.user,
        detail={"filters": {k: v for k, v in request.GET.items() if k != "format"}},
    )
    filename = f"cxrscreen-studies-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(
        studies_csv_lines(studies=filterset.qs.iterator(chunk_size=500)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
