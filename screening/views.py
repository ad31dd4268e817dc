"""Screening web views: thin, reads through selectors, writes through services."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def history(request: HttpRequest) -> HttpResponse:
    """Show the user's case history."""
    return render(request, "screening/history.html", {})
