"""manage.py dicom_listener: receive studies over DIMSE (C-STORE SCP, C-ECHO) until stopped."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from screening.pacs.listener import listener_start


class Command(BaseCommand):
    help = "Listen for DICOM C-STORE and C-ECHO from registered peers (manage.py dicom_peer)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=settings.CXR_DICOM_PORT)
        parser.add_argument("--ae-title", default=settings.CXR_DICOM_AE_TITLE)
        parser.add_argument("--host", default=settings.CXR_DICOM_HOST)

    def handle(self, *args, port: int, ae_title: str, host: str, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        server = listener_start(ae_title=ae_title, host=host, port=port)
        self.stdout.write(f"Listening as {ae_title} on {host}:{port}", ending="\n")
        self.stdout.flush()
        stop.wait()
        server.shutdown()
