"""`manage.py drift_compute [--site S] [--since DATE]`: backfill the drift watch's days."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.accounts.models import Site
from screening.drift.services import drift_days_compute


class Command(BaseCommand):
    help = "Compute each site's daily drift figures from --since (default yesterday) to today."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", help="one site's slug (default: every site)")
        parser.add_argument("--since", help="first day, YYYY-MM-DD (default: yesterday)")

    def handle(self, *args, **options) -> None:
        today = timezone.localdate()
        try:
            since = date.fromisoformat(options["since"]) if options["since"] else None
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from exc
        since = since or today - timedelta(days=1)
        if since > today:
            raise CommandError("--since is after today")
        site_id = None
        if options["site"]:
            site = Site.objects.filter(slug=options["site"]).first()
            if site is None:
                raise CommandError(f"no site with slug {options['site']!r}")
            site_id = site.id
        raised = drift_days_compute(since=since, until=today, site_id=site_id)
        days = (today - since).days + 1
        self.stdout.write(f"drift: {days} day(s) computed from {since}; {raised} alert(s) raised")
