"""Send results to the PACS once a study that came from it reaches its final state.

Connected by importing this module from PacsConfig.ready(). The task decides itself whether
anything is new to send, so an extra trigger (a review saving the study again) costs nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from screening.models import Study

logger = logging.getLogger(__name__)


def results_enqueue(*, study_id: str) -> bool:
    """Queue the results task; return False (the sweep retries) when the broker is down."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    from screening.pacs.tasks import pacs_results_send

    try:
        pacs_results_send.delay(study_id)
    except (KombuOperationalError, ConnectionError, OSError, TimeoutError) as exc:
        logger.warning("Could not queue PACS results of study %s: %s", study_id, exc)
        return False
    return True


def _sent_by_dimse_peer(*, study_id) -> bool:
    from screening.pacs.models import PacsPeer, PacsStudyLink

    return PacsStudyLink.objects.filter(
        study_id=study_id, peer__results_by=PacsPeer.ResultsBy.DIMSE
    ).exists()


@receiver(post_save, sender=Study, dispatch_uid="pacs.study_results_enqueue")
def study_results_enqueue(sender, instance: Study, created: bool, **kwargs) -> None:
    if created or instance.origin != Study.Origin.PACS or instance.status != Study.Status.DONE:
        return
    if not settings.CXR_PACS_DICOMWEB_URL and not _sent_by_dimse_peer(study_id=instance.pk):
        return
    study_id = str(instance.pk)
    transaction.on_commit(lambda: results_enqueue(study_id=study_id))
