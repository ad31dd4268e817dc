"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

app = Celery("cxrscreen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A prefork child loads TensorFlow and the model at start (tens of seconds): give it longer
# than the pool's 4 s start-up check before it may be judged dead and killed.
app.conf.worker_proc_alive_timeout = 300.0

# Celery's Django fixup closes the database connection around every task unless this is set:
# a new PostgreSQL connection (and server process) per task cost more CPU than the task's own
# queries (bench). With it set, connections live by Django's own rules (CONN_MAX_AGE, health
# checks), applied around each task below as Django applies them around each request.
app.conf["CELERY_DB_REUSE_MAX"] = 1000


@worker_process_init.connect
def model_load(**kwargs) -> None:
    """Load the model once in each prefork child (never in the parent: TensorFlow and fork)."""
    from screening.inference import screener_preload

    blas_threads_limit()
    screener_preload()


def blas_threads_limit() -> None:
    """Give numpy's BLAS one thread in this process.

    The prefork children already share the cores; a BLAS helper thread per child spins
    waiting for work between the small products of a screening (feature distance, colour
    conversion) and took about a third of the worker's CPU (bench/NOTES.md).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


@task_prerun.connect
@task_postrun.connect
def database_connections_tidy(sender=None, **kwargs) -> None:
    """Close connections that errored or outlived CONN_MAX_AGE, as Django does per request.

    Not for a task run in-process (eager): it shares its caller's connection and transaction.
    """
    from django.db import close_old_connections

    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
