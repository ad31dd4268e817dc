"""manage.py site_create --slug S [--name N]: add a site (a hospital or department)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from portal.accounts.services import site_upsert


class Command(BaseCommand):
    help = "Create a site, or rename it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True, help="short name, e.g. north-icu")
        parser.add_argument("--name", default="", help="display name")

    def handle(self, *args, **options) -> None:
        site, created = site_upsert(slug=options["slug"], name=options["name"])
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} site {site.slug!r} ({site.name}).")
