"""manage.py model_rollback: put back the model the last promotion replaced."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from screening.management.commands._deployment import actor_argument_add, actor_resolve
from screening.services import DeploymentError, model_rollback


class Command(BaseCommand):
    help = "Put back the model in force before the last promotion."

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument_add(parser=parser)

    def handle(self, *args, by: str, note: str, **options) -> None:
        try:
            row = model_rollback(actor=actor_resolve(username=by), note=note)
        except DeploymentError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{row.in_force} is in force again.")
