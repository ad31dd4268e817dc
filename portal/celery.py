"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

app = Celery("cxrscreen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A prefork child loads TensorFlow and the model at start (tens of seconds): give it longer
# than the pool's 4 s start-up check before it may be judged dead and killed.
app.conf.worker_proc_alive_timeout = 300.0

# Stuck predictions (broker down at submit time, a worker killed mid-task) are sent again.
app.conf.beat_schedule = {
    "predictions-sweep": {"task": "screening.predictions_sweep", "schedule": 60.0},
    # PACS results that could not be delivered (PACS down past the retries) are sent again.
    "pacs-results-sweep": {"task": "pacs.results_sweep", "schedule": 300.0},
}


@worker_process_init.connect
def model_load(**kwargs) -> None:
    """Load the model once in each prefork child (never in the parent: TensorFlow and fork)."""
    from screening.inference import screener_preload

    screener_preload()
