"""The worker's models: loaded lazily, one Screener per model name per process, never at
import time.

TensorFlow must not run in the prefork parent (forked children would inherit its threads), so
`portal.celery` loads the model in force in each child on `worker_process_init`; a solo-pool
worker or a management command loads it on first use. Which model screens is read per batch
(screening.selectors_deployment), so a promotion or rollback takes effect in running workers
without a restart: the next batch asks for the other name and gets its Screener, loaded once.
A failed load is remembered per name: every prediction then fails with that message instead
of reloading (and crashing) again and again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from mlcore.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

# The model in force, a candidate and the one a rollback restores: more is memory for nothing.
SCREENERS_KEPT = 3

_lock = threading.Lock()
_screeners: OrderedDict[str, Any] = OrderedDict()
_errors: dict[str, ModelUnavailableError] = {}
# Installed by tests: handed out for every name nobody installed a Screener for.
_installed: Any = None


def screener_get(*, name: str | None = None) -> Any:
    """Return the process's Screener for `name` (None: the model in force), loading it once;
    raise ModelUnavailableError."""
    if name is None:
        from screening.selectors_deployment import model_name_in_force

        name = model_name_in_force()
    with _lock:
        if name in _screeners:
            _screeners.move_to_end(name)
            return _screeners[name]
        if _installed is not None:
            return _installed
        if name in _errors:
            raise _errors[name]
        try:
            screener = _screener_load(name=name)
        except ModelUnavailableError as exc:
            _errors[name] = exc
            raise
        _screeners[name] = screener
        while len(_screeners) > SCREENERS_KEPT:
            _screeners.popitem(last=False)
        return screener


def _screener_load(*, name: str) -> Any:
    """Load one model; any error becomes ModelUnavailableError (a broken file must not kill
    the worker)."""
    try:
        from django.conf import settings

        from mlcore.pipeline import Screener

        return Screener.load(name=name, compiled_dir=settings.CXR_COMPILED_DIR or None)
    except ModelUnavailableError:
        raise
    except Exception as exc:
        raise ModelUnavailableError(f"{type(exc).__name__}: {exc}") from exc


def screener_preload(**_: Any) -> None:
    """Load the model in force and any candidate now (worker_process_init), so the first
    batch of either does not wait for a load; log instead of raising."""
    from screening.selectors_deployment import deployment_in_force_or_setting

    deployment = deployment_in_force_or_setting()
    names = [deployment.in_force] + ([deployment.candidate] if deployment.shadowing else [])
    for name in names:
        try:
            screener = screener_get(name=name)
        except ModelUnavailableError as exc:
            logger.error("The model %s is unavailable: %s", name, exc)
            continue
        card = getattr(screener, "card", None)
        logger.info(
            "Model %s %s loaded",
            getattr(card, "name", "?"),
            getattr(card, "version", "?"),
        )


def screener_reset(*, screener: Any = None) -> None:
    """Forget every loaded model and error (tests), optionally installing `screener` as the
    one handed out for any name."""
    global _installed
    with _lock:
        _screeners.clear()
        _errors.clear()
        _installed = screener


def screener_install(*, name: str, screener: Any) -> None:
    """Hand out `screener` for `name` (tests: a candidate beside the installed one)."""
    with _lock:
        _screeners[name] = screener
        _errors.pop(name, None)
