"""Liveness of each part the portal needs: database, broker, storage, model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def database_check() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def broker_check() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise RuntimeError(f"broker folder {folder} is missing")
        return "ok"
    from kombu import Connection

    with Connection(url, connect_timeout=1, transport_options={"max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
    return "ok"


def storage_check() -> str:
    # exists() goes to the backend (disk or S3) without writing anything.
    default_storage.exists("healthz-probe")
    return "ok"


def model_check() -> str:
    from mlcore.registry import model_files_check
    from screening.selectors_deployment import model_name_in_force_or_setting

    model_files_check(name=model_name_in_force_or_setting())
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": database_check,
    "broker": broker_check,
    "storage": storage_check,
    "model": model_check,
}


def health_collect() -> dict[str, str]:
    """Run every check; a failing one reports its error instead of raising."""
    from screening.pacs.health import pacs_checks

    results: dict[str, str] = {}
    for name, check in {**CHECKS, **pacs_checks()}.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = f"error: {exc}"[:300]
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 with status ok when every part works, 503 and degraded otherwise."""
    parts = health_collect()
    ok = all(value == "ok" for value in parts.values())
    body = {"status": "ok" if ok else "degraded", **parts}
    return JsonResponse(body, status=200 if ok else 503)
