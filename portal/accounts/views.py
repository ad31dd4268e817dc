"""The sign-in page, with the same per-account rate limit as the API's token endpoint."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.throttling import LoginRateThrottle


class LoginView(auth_views.LoginView):
    """Django's login view; too many attempts on one account answer 429 with Retry-After."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = LoginRateThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 60)
            detail = f"Too many sign-in attempts for this account: try again in {wait} s."
            response = render(request, "400.html", {"detail": detail}, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
