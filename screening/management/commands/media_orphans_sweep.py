"""manage.py media_orphans_sweep: delete stored files that no image or prediction names."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from screening.services.media import media_orphans_sweep


class Command(BaseCommand):
    help = "Delete files under studies/ that no row names, older than --older-than seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=int, default=None, metavar="SECONDS",
            help="Only files at least this old (default: CXR_ORPHAN_AFTER_S).",
        )  # fmt: skip

    def handle(self, *args, older_than: int | None, **options) -> None:
        if older_than is None:
            older_than = settings.CXR_ORPHAN_AFTER_S
        count = media_orphans_sweep(older_than=timedelta(seconds=max(0, older_than)))
        self.stdout.write(f"Deleted {count} file(s).")
