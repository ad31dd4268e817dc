"""Security round 2: tokens expire, sign-in and submissions are rate limited per account (and
fail open when the cache is down), and the admin is behind the login page's lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from tests.support.images import png_upload
from tests.support.stack import free_port

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


def _sign_in(username: str, *, address: str = "10.1.1.1"):
    body = {"username": username, "password": PASSWORD}
    return APIClient(REMOTE_ADDR=address).post(TOKEN_URL, body, format="json")


def test_an_expired_token_is_refused_and_signing_in_issues_a_new_one(clinician, settings):
    settings.CXR_API_TOKEN_LIFETIME_S = 3600
    first = _sign_in(clinician.username).json()
    assert first["expires"]
    Token.objects.filter(key=first["token"]).update(created=timezone.now() - timedelta(hours=2))
    api = APIClient(HTTP_AUTHORIZATION=f"Token {first['token']}")
    refused = api.get("/api/v1/studies/")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    second = _sign_in(clinician.username).json()
    assert second["token"] != first["token"]
    assert not Token.objects.filter(key=first["token"]).exists()
    api = APIClient(HTTP_AUTHORIZATION=f"Token {second['token']}")
    assert api.get("/api/v1/studies/").status_code == 200


def test_a_pacs_accounts_token_does_not_expire(settings):
    settings.CXR_API_TOKEN_LIFETIME_S = 60
    pacs = UserFactory(username="pacs-node", role="pacs")
    token = Token.objects.create(user=pacs)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=30))
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/studies/").status_code == 403  # authenticated; pacs sees no API


@pytest.fixture
def rates(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "1000/min", "user": "1000/min", "auth": "1000/min", "login": "2/min",
         "submit": "2/min"},
    )  # fmt: skip
    yield
    cache.clear()


def test_sign_in_is_limited_per_account_from_any_address(rates, clinician):
    codes = [_sign_in(clinician.username, address=f"10.2.0.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert _sign_in(UserFactory(username="other-person").username).status_code == 200
    web = [
        Client(REMOTE_ADDR=f"10.3.0.{n}").post(
            reverse("login"), {"username": "web-person", "password": "guess"}
        )
        for n in range(3)
    ]
    assert [r.status_code for r in web] == [200, 200, 429]
    assert int(web[-1]["Retry-After"]) > 0 and b"Too many sign-in attempts" in web[-1].content


def test_submissions_are_limited_per_account_reads_are_not(rates, clinician):
    api = APIClient()
    api.force_authenticate(clinician)
    posts = [
        api.post("/api/v1/studies/", {"images": [png_upload(seed=n)]}, format="multipart")
        for n in range(3)
    ]
    assert [r.status_code for r in posts] == [201, 201, 429]
    assert all(api.get("/api/v1/studies/").status_code == 200 for _ in range(4))


def test_rate_limits_let_requests_through_when_the_cache_is_down(clinician):
    """Production keeps the counts in Redis: Redis down must not take sign-in down with it."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": closed}
    with override_settings(CACHES={"default": backend}):
        assert _sign_in(clinician.username).status_code == 200


def test_the_admin_is_behind_the_login_pages_lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    staff = UserFactory(username="admin-locked", role="reviewer")
    guesser = Client(REMOTE_ADDR="10.0.0.99")
    for _ in range(3):
        guesser.post(reverse("admin:login"), {"username": staff.username, "password": "guess"})
    for url in (reverse("admin:login"), reverse("login")):
        r = guesser.post(url, {"username": staff.username, "password": PASSWORD})
        assert r.status_code == 429, url  # locked even with the right password
    r = Client(REMOTE_ADDR="10.0.0.5").post(
        reverse("admin:login"), {"username": staff.username, "password": PASSWORD}
    )
    assert r.status_code == 302  # the same account from another address is unaffected
