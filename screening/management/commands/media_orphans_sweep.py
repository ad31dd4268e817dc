"""manage.py media_orphans_sweep: delete stored files that no image or prediction names."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from screening.services.media import media_orphans_sweep


class Command(BaseCommand):
    help = (
        "Delete files under studies/ that no row names, older than --older-than seconds, in "
        "every study folder (or, with --active-within, those of recently active studies)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Only files at least this old (default: CXR_ORPHAN_AFTER_S).",
        )
        parser.add_argument(
            "--active-within", type=int, default=None, metavar="SECONDS",
            help="Only folders of studies submitted or screened this recently, and folders "
                 "no study row names (default: every folder).",
        )  # fmt: skip

    def handle(self, *args, older_than: int | None, active_within: int | None, **options) -> None:
        if older_than is None:
            older_than = settings.CXR_ORPHAN_AFTER_S
        since = None
        if active_within is not None:
            since = timezone.now() - timedelta(seconds=max(0, active_within))
        count = media_orphans_sweep(older_than=timedelta(seconds=max(0, older_than)), since=since)
        self.stdout.write(f"Deleted {count} file(s).")
