"""The audit log: who did what to which object, when and from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from screening.models import AuditEvent
from screening.services.text import text_clean


@dataclass(frozen=True)
class RequestMeta:
    ip_address: str | None = None
    user_agent: str = ""


def request_meta_from(*, request: Any) -> RequestMeta:
    """Return who-called-from-where facts of `request` for the audit log."""
    ip = (request.META.get("REMOTE_ADDR") or "").strip() or None
    agent = text_clean(text=request.META.get("HTTP_USER_AGENT", ""))[:255]
    return RequestMeta(ip_address=ip, user_agent=agent)


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any,
    meta: RequestMeta | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Append an audit event: `actor` did `action` to `obj`."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    if obj is None:
        object_type, object_id = "", ""
    elif isinstance(obj, models.Model):
        object_type, object_id = obj._meta.model_name, str(obj.pk)
    else:
        object_type, object_id = type(obj).__name__.lower(), str(obj)
    return AuditEvent.objects.create(
        actor=user,
        actor_username=user.get_username() if user else "",
        action=action,
        object_type=object_type,
        object_id=object_id[:64],
        ip_address=meta.ip_address if meta else None,
        user_agent=(meta.user_agent if meta else "")[:255],
        detail=detail or {},
    )


def audit_request_record(
    *, request: Any, action: str, obj: Any, detail: dict | None = None
) -> AuditEvent:
    """Append an audit event for the signed-in user of `request` (pages, files, API reads)."""
    return audit_record(
        actor=request.user,
        action=action,
        obj=obj,
        meta=request_meta_from(request=request),
        detail=detail,
    )
