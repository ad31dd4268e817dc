"""CSRF on every form, production headers and cookies, login throttling, API throttles,
password validators and no secrets in the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from screening.models import Review, Study
from tests.factories import PASSWORD, UserFactory
from tests.support.api import api_client_for
from tests.support.images import png_upload
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- CSRF


def _csrf_client(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def test_every_form_refuses_a_post_without_csrf_token(clinician, reviewer, done_prediction):
    studies = Study.objects.count()
    anon = _csrf_client()
    r = anon.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    assert r.status_code == 403
    clin = _csrf_client(clinician)
    r = clin.post(reverse("screening:study_create"), {"files": [png_upload()]})
    assert r.status_code == 403 and Study.objects.count() == studies
    new = "N3w-long-pass!"
    form = {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    assert clin.post(reverse("password_change"), form).status_code == 403
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)
    rev = _csrf_client(reviewer)
    r = rev.post(
        reverse("screening:prediction_review", args=[done_prediction.pk]), {"verdict": "agree"}
    )
    assert r.status_code == 403 and not Review.objects.exists()
    r = clin.post(reverse("logout"))
    assert r.status_code == 403
    assert clin.get(reverse("screening:history")).status_code == 200  # still logged in
    # Admin forms too.
    admin = _csrf_client(UserFactory(username="admin-csrf", role="admin"))
    r = admin.post(
        reverse("admin:screening_study_change", args=[done_prediction.image.study_id]),
        {"reference": "X"},
    )
    assert r.status_code == 403


def test_forms_accept_the_csrf_token(clinician):
    client = _csrf_client()
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value
    r = client.post(
        reverse("login"),
        {"username": clinician.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 302


def test_api_session_auth_needs_csrf_token_auth_does_not(
    clinician, reviewer, done_prediction, enqueued
):
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(clinician)
    r = session.post("/api/v1/studies/", {"images": [png_upload()]}, format="multipart")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    rev = APIClient(enforce_csrf_checks=True)
    rev.force_login(reviewer)
    r = rev.post(
        f"/api/v1/predictions/{done_prediction.pk}/review/", {"verdict": "agree"}, format="json"
    )
    assert r.status_code == 403 and not Review.objects.exists()
    token = api_client_for(clinician)
    token.enforce_csrf_checks = True
    token.handler.enforce_csrf_checks = True
    r = token.post("/api/v1/studies/", {"images": [png_upload()]}, format="multipart")
    assert r.status_code == 201
    r = APIClient(enforce_csrf_checks=True).post(
        "/api/v1/auth/token/", {"username": clinician.username, "password": PASSWORD}
    )
    assert r.status_code == 200  # the token endpoint has no session to ride on


# --------------------------------------------------------------------------- production headers

PRODUCTION_PROBE = r"""
import json, django
from django.core.management import call_command
django.setup()
from django.conf import settings
# The manifest needs collectstatic; headers and cookies do not depend on it.
settings.STORAGES = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
call_command("migrate", verbosity=0)
from django.test import Client
from tests.factories import UserFactory, PASSWORD
UserFactory(username="prod-probe", role="clinician")
c = Client()
out = {}
r = c.get("/accounts/login/")
out["http"] = [r.status_code, r.get("Location", "")]
r = c.get("/accounts/login/", secure=True)
out["login"] = {"status": r.status_code, "headers": dict(r.headers),
    "cookies": {k: dict(v) for k, v in r.cookies.items()}}
token = r.cookies["csrftoken"].value
r = c.post("/accounts/login/", {"username": "prod-probe", "password": PASSWORD,
    "csrfmiddlewaretoken": token}, secure=True, HTTP_REFERER="https://testserver/accounts/login/")
out["post"] = {"status": r.status_code, "cookies": {k: dict(v) for k, v in r.cookies.items()}}
r = c.get("/healthz")
out["healthz_http"] = r.status_code
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prod")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "p" * 30 + "-not-a-real-secret-only-for-this-test-" + "q" * 20,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{folder / 'prod.sqlite3'}",
        "CXR_VAR_DIR": str(folder),
        "CELERY_BROKER_URL": "filesystem://",
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next((x for x in result.stdout.splitlines() if x.startswith("PROBE")), None)
    assert line, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(line[len("PROBE") :])


def test_production_redirects_http_to_https(production):
    status, location = production["http"]
    assert status == 301 and location.startswith("https://")
    assert production["healthz_http"] in (200, 503)  # the probe is exempt from the redirect


def test_production_security_headers(production):
    headers = {k.lower(): v for k, v in production["login"]["headers"].items()}
    assert production["login"]["status"] == 200
    hsts = headers["strict-transport-security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
                      "object-src 'none'"):  # fmt: skip
        assert directive in csp, csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_production_cookies_are_secure(production):
    csrf = production["login"]["cookies"]["csrftoken"]
    assert csrf["secure"] is True and csrf["httponly"] is True
    assert production["post"]["status"] == 302
    session = production["post"]["cookies"]["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert session["samesite"] == "Lax"


# --------------------------------------------------------------------------- throttling


def test_web_login_lockout_is_per_username_and_ip(settings):
    settings.AXES_FAILURE_LIMIT = 3
    alice = UserFactory(username="lock-alice", role="clinician")
    UserFactory(username="lock-bob", role="clinician")
    guesser = Client(REMOTE_ADDR="10.0.0.66")
    for _ in range(3):
        r = guesser.post(reverse("login"), {"username": alice.username, "password": "guess"})
    r = guesser.post(reverse("login"), {"username": alice.username, "password": PASSWORD})
    assert r.status_code == 429  # locked even with the right password
    r = Client(REMOTE_ADDR="10.0.0.66").post(
        reverse("login"), {"username": "lock-bob", "password": PASSWORD}
    )
    assert r.status_code == 302  # another user from the same address is unaffected
    r = Client(REMOTE_ADDR="10.0.0.7").post(
        reverse("login"), {"username": alice.username, "password": PASSWORD}
    )
    assert r.status_code == 302  # the same user from another address is unaffected


def test_api_token_lockout_is_per_username_and_ip(settings):
    settings.AXES_FAILURE_LIMIT = 3
    alice = UserFactory(username="tok-alice", role="clinician")
    UserFactory(username="tok-bob", role="clinician")
    url = "/api/v1/auth/token/"
    guesser = APIClient(REMOTE_ADDR="10.0.0.66")
    for _ in range(3):
        guesser.post(url, {"username": alice.username, "password": "guess"}, format="json")
    r = guesser.post(url, {"username": alice.username, "password": PASSWORD}, format="json")
    assert r.status_code == 429 and r.json()["code"] == "locked_out"
    r = APIClient(REMOTE_ADDR="10.0.0.66").post(
        url, {"username": "tok-bob", "password": PASSWORD}, format="json"
    )
    assert r.status_code == 200
    r = APIClient(REMOTE_ADDR="10.0.0.7").post(
        url, {"username": alice.username, "password": PASSWORD}, format="json"
    )
    assert r.status_code == 200


@pytest.fixture
def small_rates(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "2/min", "user": "3/min", "auth": "2/min", "login": "100/min", "submit": "2/min"},
    )
    yield
    cache.clear()


def test_api_throttles_answer_429(small_rates, clinician):
    client = api_client_for(clinician)
    codes = [client.get("/api/v1/studies/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/studies/")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0 and r.json()["detail"]
    anon = APIClient()  # anonymous: throttled where anonymous access is allowed (the schema)
    assert [anon.get("/api/v1/schema/").status_code for _ in range(3)] == [200, 200, 429]
    tok = APIClient(REMOTE_ADDR="10.9.9.9")
    body = {"username": clinician.username, "password": PASSWORD}
    codes = [tok.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --------------------------------------------------------------------------- passwords

WEAK = ["short1", "password123", "12345678901", "clin-alice-1"]


@pytest.mark.parametrize("weak", WEAK)
def test_password_change_rejects_weak_passwords(weak, client, clinician):
    client.force_login(clinician)
    r = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
    )
    assert r.status_code == 200 and r.context["form"].errors.get("new_password2")
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)


@pytest.mark.parametrize("weak", WEAK)
def test_create_user_command_rejects_weak_passwords(weak):
    from django.core.management import CommandError, call_command

    from portal.accounts.models import User

    with pytest.raises((CommandError, SystemExit)):
        call_command("create_user", username="clin-alice", password=weak, role="clinician")
    assert not User.objects.filter(username="clin-alice").exists()


# --------------------------------------------------------------------------- secrets

SECRET_PATTERNS = {
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
    ),
    "AWS access key": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret": re.compile(rb"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}", re.I),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Stripe key": re.compile(rb"\bsk_live_[A-Za-z0-9]{16,}"),
    "Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
    "hard-coded SECRET_KEY": re.compile(rb"SECRET_KEY\s*=\s*['\"]"),
    "password in URL": re.compile(rb"[a-z]+://[^/\s:@${}]+:(?!\$\{)[^@\s/${}]{3,}@[\w.-]+"),
}
# Settings for tests and local development may carry obviously fake keys.
SECRET_KEY_ALLOWED = {"portal/settings/local.py", "portal/settings/test.py"}


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [name for name in out.decode().split("\0") if name]


def test_no_secrets_in_tracked_files():
    findings = []
    for name in tracked_files():
        path = REPO_ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8000]:  # binary (weights, images)
            continue
        for what, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(data):
                if what == "hard-coded SECRET_KEY" and (
                    name in SECRET_KEY_ALLOWED or name.startswith("tests/")
                ):
                    continue
                if what == "password in URL" and name.startswith("tests/"):
                    continue
                findings.append(f"{name}: {what}: {match.group(0)[:60]!r}")
    assert not findings, "\n".join(findings)


def test_compose_passwords_come_from_the_environment():
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    bad = []
    for line in compose.splitlines():
        key, _, value = line.strip().partition(":")
        secretish = re.search(r"(PASSWORD|SECRET|TOKEN|_KEY)\b", key)
        if secretish and value.strip() and "${" not in value:
            bad.append(line.strip())
    assert not bad, bad
    assert re.search(r"SECRET_KEY:\s*\$\{SECRET_KEY:\?", compose)  # no default at all


def test_secret_patterns_catch_what_they_should(tmp_path):
    """The scanner itself works (so a clean result means something)."""
    samples = {
        # Split so this file does not trip its own scan.
        "private key": b"-----BEGIN RSA " + b"PRIVATE KEY-----",
        "AWS access key": b"key = AKIA" + b"IOSFODNN7EXAMPLE",
        "hard-coded SECRET_KEY": b'SECRET_KEY = "abc"',
        "password in URL": b"postgres://cxr:hunter2@db:5432/x",
    }
    for what, sample in samples.items():
        assert SECRET_PATTERNS[what].search(sample), what
    assert not SECRET_PATTERNS["password in URL"].search(b"postgres://cxr:${PW:-x}@db/x")
