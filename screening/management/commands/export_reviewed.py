"""manage.py export_reviewed --site S [--since DATE] OUT/: a site's reviewed cases for training."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from portal.accounts.services import UnknownSiteError, site_get
from screening.services.reviewed_export import ExportError, reviewed_export


def since_parse(*, text: str) -> datetime | None:
    """Return the start of day `text` (YYYY-MM-DD) in the portal's time zone; None for ""."""
    if not text:
        return None
    day = parse_date(text)
    if day is None:
        raise CommandError(f"--since {text!r} is not a date (YYYY-MM-DD).")
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = (
        "Write a site's reviewed cases (images + metadata.csv, the siim layout) to OUT, "
        "for `python -m training train --data ... OUT`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("out", type=Path, help="a new or empty folder")
        parser.add_argument("--site", required=True, help="the site's slug")
        parser.add_argument("--since", default="", help="reviewed on or after YYYY-MM-DD")
        parser.add_argument("--max-side", type=int, default=1024, help="longer side in pixels")

    def handle(self, *args, **options) -> None:
        try:
            site = site_get(slug=options["site"])
            summary = reviewed_export(
                site=site,
                out_dir=options["out"],
                since=since_parse(text=options["since"]),
                max_side=options["max_side"],
            )
        except (UnknownSiteError, ExportError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Exported {summary.images} images ({summary.rows} rows) of site {site.slug!r} "
            f"to {options['out']}: labels {summary.labels}, splits {summary.splits}, "
            f"{summary.disagreements} with reviewers who disagree, "
            f"{summary.unreadable} unreadable left out."
        )
