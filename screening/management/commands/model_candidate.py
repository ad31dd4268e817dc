"""manage.py model_candidate --set NAME | --clear: the candidate screened in shadow."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from screening.management.commands._deployment import actor_argument_add, actor_resolve
from screening.services import DeploymentError, model_candidate_clear, model_candidate_set


class Command(BaseCommand):
    help = (
        "Register a model of the weights folder as the candidate screened in shadow, or clear it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--set", metavar="NAME", dest="name", help="Registry name to shadow.")
        group.add_argument("--clear", action="store_true", help="Stop screening in shadow.")
        actor_argument_add(parser=parser)

    def handle(self, *args, name: str | None, clear: bool, by: str, note: str, **options) -> None:
        actor = actor_resolve(username=by)
        try:
            if clear:
                row = model_candidate_clear(actor=actor, note=note)
                self.stdout.write("Candidate cleared." if row else "No candidate was set.")
                return
            row = model_candidate_set(name=name, actor=actor, note=note)
        except DeploymentError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Candidate {row.candidate} screens in shadow beside {row.in_force}.")
