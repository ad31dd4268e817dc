"""manage.py dicom_peer: allow a calling AE title, acting as a `pacs` account."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from screening.pacs.models import PacsPeer
from screening.pacs.peers import PeerError, peer_register


class Command(BaseCommand):
    help = "Register (or update) a DICOM peer: its AE title, pacs account, and where results go."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ae-title", required=True)
        parser.add_argument("--user", required=True, help="a user with the role pacs")
        parser.add_argument("--host", required=True, help="results go back to this host")
        parser.add_argument("--port", type=int, required=True, help="and this port (C-STORE)")
        parser.add_argument(
            "--networks",
            default="",
            help="addresses or CIDR networks it calls from, comma-separated (default: its host)",
        )
        parser.add_argument(
            "--results-by", choices=PacsPeer.ResultsBy.values, default=PacsPeer.ResultsBy.DIMSE
        )

    def handle(self, *args, ae_title, user, host, port, results_by, networks, **options) -> None:
        try:
            peer = peer_register(
                ae_title=ae_title,
                username=user,
                host=host,
                port=port,
                results_by=results_by,
                networks=networks,
            )
        except PeerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Peer {peer} acts as {user}; results by {results_by}")
