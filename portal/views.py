"""Project-level pages, and the answers to requests that fail before or outside a view."""

import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views import defaults

from portal.outage import outage_of
from screening.api.disclaimer import disclaimer_add
from screening.services.errors import upload_limit_explain
from screening.views.common import wants_json


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send a signed-in user to their case history."""
    return redirect("screening:history")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 page or JSON that names the problem, for errors raised before any view runs.

    Django refuses a request past its own parser limits (file count, field count, form size)
    with a bare "Bad Request"; say which limit it was and what is allowed.
    """
    code, detail = upload_limit_explain(exception=exception)
    if request.path.startswith("/api/"):
        return JsonResponse(disclaimer_add({"detail": detail, "code": code}), status=400)
    return render(request, "400.html", {"detail": detail}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """503 with what is happening and a Retry-After when a part is down, else Django's 500.

    Django calls this inside its handler of the uncaught exception, so that exception is
    `sys.exc_info()`. The page is rendered without the request's context: with the database
    down, even reading the signed-in user would fail.
    """
    outage = outage_of(exception=sys.exc_info()[1])
    if outage is None:
        return defaults.server_error(request)
    if request.path.startswith(("/api/", "/dicomweb/")) or wants_json(request=request):
        # The upload form's script asks for JSON and shows `detail` as it is.
        body = disclaimer_add({"detail": outage.detail, "code": outage.code})
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        context = {"detail": outage.detail, "disclaimer": settings.CXR_DISCLAIMER}
        page = render_to_string("503.html", context)
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(outage.retry_after_s)
    return response
