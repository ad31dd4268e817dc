"""Project-level pages."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from screening.api.disclaimer import disclaimer_add


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


def upload_limit_explain(*, exception: Exception) -> tuple[str, str]:
    """Return (code, message) for a request Django refused while parsing it."""
    if isinstance(exception, TooManyFilesSent):
        return (
            "too_many_files",
            f"Too many files in one upload: at most {settings.CXR_MAX_FILES_PER_STUDY} "
            "files per study.",
        )
    if isinstance(exception, RequestDataTooBig):
        return "too_large", "The form data is too large (files are limited separately)."
    if isinstance(exception, TooManyFieldsSent):
        return "too_many_fields", "The form has too many fields."
    return "bad_request", "The request could not be understood."
