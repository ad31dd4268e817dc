"""Send a PACS study's results back where it came from, once per set of current predictions.

A study sent over DIMSE by a peer whose results go by C-STORE gets them there (screening.pacs
.dimse); any other goes to the configured DICOMweb PACS (screening.pacs.client). A study whose
set of current predictions was already delivered is skipped.
"""

from __future__ import annotations

import hashlib
import logging

from django.db.models import Prefetch
from django.utils import timezone

from screening.models import Image, Prediction, Study
from screening.pacs import client, dimse
from screening.pacs.models import PacsPeer, PacsStudyLink
from screening.pacs.objects import Screened, finding_from, results_objects_build

logger = logging.getLogger(__name__)


def results_key(*, predictions: list[Prediction]) -> str:
    """Return a fingerprint of the study's current predictions and their outcomes."""
    text = "|".join(sorted(f"{p.id}:{p.status}" for p in predictions))
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def study_screened_list(*, study: Study) -> list[Screened]:
    """Return the current prediction of each image that came from the PACS, in order."""
    current = Prefetch(
        "predictions", queryset=Prediction.objects.filter(is_current=True), to_attr="current"
    )
    images = Image.objects.filter(study=study, pacs_link__isnull=False)
    screened = []
    for image in images.select_related("pacs_link").prefetch_related(current):
        for prediction in image.current:
            prediction.image = image
            screened.append(
                Screened(prediction=prediction, finding=finding_from(prediction=prediction))
            )
    return screened


def link_sends_by_dimse(*, link: PacsStudyLink) -> bool:
    """Say whether the study's results go back by C-STORE to the peer that sent it."""
    return link.peer is not None and link.peer.results_by == PacsPeer.ResultsBy.DIMSE


def link_has_destination(*, link: PacsStudyLink) -> bool:
    """Say whether the study's results have somewhere to go."""
    return link_sends_by_dimse(link=link) or client.pacs_configured()


def _deliver(*, link: PacsStudyLink, screened: list[Screened], key: str) -> int:
    """Read the study's attributes from its destination, build the objects, store them."""
    study_uid = link.study_instance_uid
    if link_sends_by_dimse(link=link):
        attributes = dimse.study_attributes_find(peer=link.peer, study_uid=study_uid)
        files = results_objects_build(link=link, screened=screened, key=key, attributes=attributes)
        return dimse.instances_store(peer=link.peer, files=files)
    attributes = client.study_attributes_fetch(study_uid=study_uid)
    files = results_objects_build(link=link, screened=screened, key=key, attributes=attributes)
    return client.instances_stow(study_uid=study_uid, files=files)


def results_send(*, study_id: str) -> str:
    """Send the study's results unless already delivered; return what happened.

    Raises PacsSendError (the task retries) when the destination is down or refuses them.
    """
    link = PacsStudyLink.objects.select_related("study", "peer").filter(study_id=study_id).first()
    if link is None or link.study.status != Study.Status.DONE:
        return "not a finished PACS study"
    if not link_has_destination(link=link):
        return "no PACS configured"
    screened = study_screened_list(study=link.study)
    if not screened:
        return "no images"
    key = results_key(predictions=[item.prediction for item in screened])
    if key == link.results_key:
        PacsStudyLink.objects.filter(pk=link.pk).update(results_sent=timezone.now())
        return "already sent"
    sent = _deliver(link=link, screened=screened, key=key)
    PacsStudyLink.objects.filter(pk=link.pk).update(
        results_key=key, results_sent=timezone.now(), results_error=""
    )
    where = f"AE {link.peer.ae_title}" if link_sends_by_dimse(link=link) else "the DICOMweb PACS"
    logger.info("Sent %d result objects of study %s to %s", sent, study_id, where)
    return f"sent {sent}"


def results_failed_record(*, study_id: str, reason: str) -> None:
    """Remember why results could not be delivered (the sweep tries again later)."""
    PacsStudyLink.objects.filter(study_id=study_id).update(results_error=reason[:500])


def results_resend(*, study_ids: list[str]) -> int:
    """Forget what was delivered for these studies and queue their results once committed."""
    from django.db import transaction

    from screening.pacs.signals import results_enqueue

    links = PacsStudyLink.objects.filter(study_id__in=study_ids, study__status=Study.Status.DONE)
    ids = [str(pk) for pk in links.values_list("study_id", flat=True)]
    links.update(results_key="", results_error="")
    for study_id in ids:
        transaction.on_commit(lambda study_id=study_id: results_enqueue(study_id=study_id))
    return len(ids)
