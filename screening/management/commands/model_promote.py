"""manage.py model_promote: make the candidate the model in force, if the evidence allows."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from screening.management.commands._deployment import actor_argument_add, actor_resolve
from screening.services import DeploymentError, model_promote


class Command(BaseCommand):
    help = (
        "Promote the candidate to the model in force when its reviewed cases allow it "
        "(CXR_PROMOTION_MIN_CASES, CXR_PROMOTION_SENSITIVITY_MARGIN)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actor_argument_add(parser=parser)

    def handle(self, *args, by: str, note: str, **options) -> None:
        try:
            row = model_promote(actor=actor_resolve(username=by), note=note)
        except DeploymentError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{row.in_force} is in force (was {row.previous}).")
