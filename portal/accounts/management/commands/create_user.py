"""manage.py create_user --username U --password P --role ROLE [--site S] (roles.Role)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.roles import Role
from portal.accounts.services import UnknownRoleError, UnknownSiteError, site_get, user_upsert


class Command(BaseCommand):
    help = "Create or update a user with one role."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", required=True, help=", ".join(r.value for r in Role))
        parser.add_argument("--email", default="")
        parser.add_argument("--site", default="", help="the site's slug (manage.py site_create)")
        parser.add_argument(
            "--skip-password-validation",
            action="store_true",
            help="Accept a password Django's validators would refuse (demo accounts only).",
        )

    def handle(self, *args, **options) -> None:
        try:
            site = site_get(slug=options["site"]) if options["site"] else None
            user, created = user_upsert(
                username=options["username"],
                password=options["password"],
                role=options["role"],
                email=options["email"],
                validate=not options["skip_password_validation"],
                site=site,
            )
        except (UnknownRoleError, UnknownSiteError) as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages)) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} user {user.username!r} with role {options['role']}.")
