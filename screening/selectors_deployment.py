"""Reads of the models in force: the model that screens, the candidate in shadow, history.

CONTRACT:
    deployment_in_force(*, fresh=False) -> DeploymentInForce
        the newest ModelDeployment row, else the setting CXR_MODEL_NAME (or mlcore's
        default) with no candidate; remembered CXR_DEPLOYMENT_CACHE_S seconds per process
        unless `fresh`, so a worker reads it at most that often and a change reaches running
        workers within that time, without a restart
    model_name_in_force() -> str
    deployment_in_force_or_setting(), model_name_in_force_or_setting()
        never raise: the setting's, without a candidate, on a database error
    deployment_history(*, limit=20) -> list[ModelDeployment]   newest first
    deployment_cache_clear()   forget the remembered state (after a change in this process)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from screening.shadow_models import ModelDeployment

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_remembered: tuple[float, DeploymentInForce] | None = None


@dataclass(frozen=True)
class DeploymentInForce:
    """The model that screens, the candidate in shadow ("": none), what a rollback restores."""

    in_force: str
    candidate: str = ""
    previous: str = ""
    source: str = "setting"  # "record": a ModelDeployment row; "setting": CXR_MODEL_NAME
    changed_by: str = ""
    changed: datetime | None = None

    @property
    def shadowing(self) -> bool:
        """Whether new images are also screened by a candidate."""
        return bool(self.candidate) and self.candidate != self.in_force


def model_name_setting() -> str:
    """Return the model the setting CXR_MODEL_NAME names, or the registry's default."""
    from mlcore.registry import DEFAULT_MODEL_NAME

    return settings.CXR_MODEL_NAME or DEFAULT_MODEL_NAME


def _deployment_read() -> DeploymentInForce:
    row = ModelDeployment.objects.select_related("changed_by").order_by("-id").first()
    if row is None:
        return DeploymentInForce(in_force=model_name_setting())
    return DeploymentInForce(
        in_force=row.in_force,
        candidate=row.candidate,
        previous=row.previous,
        source="record",
        changed_by=row.changed_by.get_username() if row.changed_by else "",
        changed=row.changed,
    )


def deployment_in_force(*, fresh: bool = False) -> DeploymentInForce:
    """Return the models in force, read at most every CXR_DEPLOYMENT_CACHE_S seconds."""
    global _remembered
    now = time.monotonic()
    with _lock:
        remembered = _remembered
    if not fresh and remembered is not None and now - remembered[0] < _cache_seconds():
        return remembered[1]
    state = _deployment_read()
    with _lock:
        _remembered = (now, state)
    return state


def _cache_seconds() -> float:
    return float(getattr(settings, "CXR_DEPLOYMENT_CACHE_S", 3.0))


def deployment_cache_clear() -> None:
    """Forget the remembered state: the next read goes to the database."""
    global _remembered
    with _lock:
        _remembered = None


def model_name_in_force() -> str:
    """Return the name of the model new predictions are made with."""
    return deployment_in_force().in_force


def deployment_in_force_or_setting() -> DeploymentInForce:
    """The models in force; the setting's, without a candidate, when the database cannot be
    read (health checks, a worker starting while it is down: its first batch reads again)."""
    try:
        return deployment_in_force()
    except Exception:
        logger.warning("Could not read the model in force; using the setting's", exc_info=True)
        return DeploymentInForce(in_force=model_name_setting())


def model_name_in_force_or_setting() -> str:
    """The model in force, or the setting's when the database cannot be read."""
    return deployment_in_force_or_setting().in_force


def deployment_history(*, limit: int = 20) -> list[ModelDeployment]:
    """Return the newest changes of the models in force, newest first."""
    return list(ModelDeployment.objects.select_related("changed_by").order_by("-id")[:limit])
