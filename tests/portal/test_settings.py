"""Settings by environment: embedded defaults, S3 switch, production refusals and check --deploy."""

import os
import subprocess
import sys

from tests.support.services import REPO_ROOT

UNSAFE_NAMES = {"SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def safe_env() -> dict[str, str]:
    """Return this process's environment without what would change the settings under test."""
    return {k: v for k, v in os.environ.items() if k not in UNSAFE_NAMES}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env={**safe_env(), **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_local_defaults_need_no_server():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings.local';"
        "os.environ.pop('CELERY_BROKER_URL', None);"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL,"
        " s.CELERY_BROKER_TRANSPORT_OPTIONS['polling_interval'], s.STORAGES['default']['BACKEND'])"
    )
    env = {k: v for k, v in safe_env().items() if k != "CELERY_BROKER_URL"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    engine, broker, polling, storage = result.stdout.split()
    assert engine.endswith("sqlite3")
    assert broker == "filesystem://"
    assert float(polling) == 0.1
    assert storage.endswith("FileSystemStorage")


def test_s3_storage_when_bucket_is_set():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings.local';"
        "from django.conf import settings as s; o=s.STORAGES['default'];"
        "print(o['BACKEND'], o['OPTIONS']['bucket_name'], o['OPTIONS']['querystring_auth'])"
    )
    result = run_python(code, AWS_STORAGE_BUCKET_NAME="cxr-media")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["storages.backends.s3.S3Storage", "cxr-media", "True"]


def test_production_refuses_to_start_without_secret_key():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings.production';"
        "from django.conf import settings; settings.DEBUG"
    )
    result = run_python(code, ALLOWED_HOSTS="cxr.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_passes_check_deploy_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={
            **safe_env(),
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "SECRET_KEY": "x7" * 30 + "-production-like-secret-for-the-check-only",
            "ALLOWED_HOSTS": "cxr.example.org",
        },
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
