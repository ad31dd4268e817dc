"""manage.py shadow_rescreen --candidate NAME [--site SLUG]: screen reviewed cases in shadow."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlcore.errors import ModelUnavailableError
from screening.services import shadow_rescreen


class Command(BaseCommand):
    help = (
        "Screen past reviewed images with a candidate model, for the comparison page; images "
        "it has screened already are skipped, so a second run adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--candidate", required=True, metavar="NAME", help="Registry name.")
        parser.add_argument("--site", metavar="SLUG", default=None, help="Only this site's cases.")

    def handle(self, *args, candidate: str, site: str | None, **options) -> None:
        from portal.accounts.models import Site

        if site and not Site.objects.filter(slug=site).exists():
            raise CommandError(f"No site {site!r}.")
        try:
            stored = shadow_rescreen(candidate=candidate, site_slug=site)
        except ModelUnavailableError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Screened {stored} reviewed image(s) with {candidate} in shadow.")
