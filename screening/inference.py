"""The worker's model: loaded lazily, once per process, never at import time.

TensorFlow must not run in the prefork parent (forked children would inherit its threads), so
`portal.celery` loads the model in each child on `worker_process_init`; a solo-pool worker or a
management command loads it on first use. A failed load is remembered: every prediction then
fails with that message instead of reloading (and crashing) again and again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings

from mlcore.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_screener: Any = None
_error: ModelUnavailableError | None = None


def screener_get() -> Any:
    """Return the process's Screener, loading it on first call; raise ModelUnavailableError."""
    global _screener, _error
    with _lock:
        if _screener is not None:
            return _screener
        if _error is not None:
            raise _error
        try:
            from mlcore.pipeline import Screener

            _screener = Screener.load(name=settings.CXR_MODEL_NAME)
        except ModelUnavailableError as exc:
            _error = exc
            raise
        except Exception as exc:  # a broken model file must not kill the worker
            _error = ModelUnavailableError(f"{type(exc).__name__}: {exc}")
            raise _error from exc
        return _screener


def screener_preload(**_: Any) -> None:
    """Load the model now (worker_process_init); log instead of raising."""
    try:
        screener = screener_get()
    except ModelUnavailableError as exc:
        logger.error("The model is unavailable: %s", exc)
        return
    card = getattr(screener, "card", None)
    logger.info(
        "Model %s %s loaded",
        getattr(card, "name", "?"),
        getattr(card, "version", "?"),
    )


def screener_reset(*, screener: Any = None) -> None:
    """Forget the loaded model or error (tests), optionally installing `screener`."""
    global _screener, _error
    with _lock:
        _screener = screener
        _error = None
