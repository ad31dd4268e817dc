"""Operational records: proof that a worker process ran a task against this database."""

from __future__ import annotations

import uuid

from django.db import models


class WorkerHeartbeat(models.Model):
    token = models.UUIDField(default=uuid.uuid4, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid} at {self.created:%Y-%m-%d %H:%M:%S}"
