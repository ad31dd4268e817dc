"""manage.py predictions_sweep: requeue predictions stuck in queued or running."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from screening.services import predictions_requeue_stale


class Command(BaseCommand):
    help = "Requeue predictions stuck in queued or running longer than --older-than seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Age after which a prediction counts as stuck (default: CXR_SWEEP_OLDER_THAN_S).",
        )

    def handle(self, *args, older_than: int | None, **options) -> None:
        if older_than is None:
            older_than = settings.CXR_SWEEP_OLDER_THAN_S
        if older_than < 0:
            self.stderr.write("--older-than must be zero or more seconds.")
            raise SystemExit(2)
        count = predictions_requeue_stale(older_than=timedelta(seconds=older_than))
        self.stdout.write(f"Requeued {count} prediction(s).")
