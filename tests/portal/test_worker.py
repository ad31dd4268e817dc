"""A real Celery worker process runs a task from the configured broker against the test database."""

import uuid

import pytest

from portal.ops.models import WorkerHeartbeat
from portal.ops.tasks import heartbeat_record
from tests.support.worker import until, worker_running

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_process_writes_task_result_to_database(tmp_path):
    token = str(uuid.uuid4())
    with worker_running(log_path=tmp_path / "worker.log") as worker:
        heartbeat_record.delay(token)
        row = until(
            lambda: WorkerHeartbeat.objects.filter(token=token).first(),
            timeout=90,
            message="the worker's heartbeat row",
        )
        assert worker.poll() is None
    assert row.pid != 0
    assert row.pid != __import__("os").getpid()  # written by another process


def test_celery_keeps_database_connections_between_tasks():
    from celery.fixups.django import DjangoWorkerFixup

    from portal.celery import app

    # Without a reuse limit Celery's fixup closes the connection around every task.
    assert DjangoWorkerFixup(app).db_reuse_max == 1000


@pytest.mark.django_db
def test_an_in_process_task_leaves_its_callers_connection_open():
    from django.db import connection

    token = str(uuid.uuid4())
    heartbeat_record.apply(args=[token])
    assert connection.connection is not None
    assert WorkerHeartbeat.objects.filter(token=token).exists()


def test_a_worker_child_gives_numpys_blas_one_thread():
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    from portal.celery import blas_threads_limit

    np.ones((4, 4)) @ np.ones(4)  # BLAS loaded
    with threadpool_limits(limits=2, user_api="blas"):  # restores this process's own on exit
        blas_threads_limit()
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
