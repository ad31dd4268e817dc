"""Operational tasks."""

from __future__ import annotations

import os
import socket

from celery import shared_task

from portal.ops.models import WorkerHeartbeat


@shared_task(name="ops.heartbeat_record", ignore_result=True)
def heartbeat_record(token: str) -> None:
    """Write a heartbeat row for `token`; running it twice writes one row."""
    WorkerHeartbeat.objects.get_or_create(
        token=token, defaults={"hostname": socket.gethostname(), "pid": os.getpid()}
    )
