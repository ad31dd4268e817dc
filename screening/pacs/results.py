"""Results of a PACS study as DICOM: one Secondary Capture per screened image and one SR.

Objects carry UIDs derived from the original study and the predictions (mlcore.dicomout), so
sending twice stores the same instances again instead of new ones; a study whose set of
current predictions was already delivered is skipped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from mlcore.dicomout import (
    Finding,
    StudyContext,
    dataset_bytes,
    report_build,
    secondary_capture_build,
    uid_derive,
)
from screening.models import Image, Prediction, Study
from screening.pacs.client import instances_stow, pacs_configured, study_attributes_fetch
from screening.pacs.models import PacsStudyLink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Screened:
    prediction: Prediction
    finding: Finding


def results_key(*, predictions: list[Prediction]) -> str:
    """Return a fingerprint of the study's current predictions and their outcomes."""
    text = "|".join(sorted(f"{p.id}:{p.status}" for p in predictions))
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def _finding_from(*, prediction: Prediction) -> Finding:
    link = prediction.image.pacs_link
    return Finding(
        source_sop_class_uid=link.sop_class_uid,
        source_sop_instance_uid=link.sop_instance_uid,
        source_series_instance_uid=link.series_instance_uid,
        status=prediction.status,
        label=prediction.label,
        probabilities={k: float(v) for k, v in (prediction.probabilities or {}).items()},
        reason=prediction.reason,
        model_name=prediction.model_name,
        model_version=prediction.model_version,
    )


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
            finding = _finding_from(prediction=prediction)
            screened.append(Screened(prediction=prediction, finding=finding))
    return screened


def results_objects_build(
    *, link: PacsStudyLink, screened: list[Screened], key: str, attributes: dict[str, str]
) -> list[bytes]:
    """Return the Part 10 files to send: a Secondary Capture per heatmap, then the SR."""
    study_uid = link.study_instance_uid
    context = StudyContext(study_instance_uid=study_uid, attributes=attributes)
    files = []
    sc_series = uid_derive(parts=[study_uid, "secondary-capture-series"])
    for number, item in enumerate(screened, start=1):
        prediction = item.prediction
        if prediction.status != Prediction.Status.DONE or not prediction.heatmap:
            continue
        with prediction.heatmap.open("rb") as handle:
            overlay = handle.read()
        ds = secondary_capture_build(
            context=context,
            finding=item.finding,
            overlay=overlay,
            series_uid=sc_series,
            sop_uid=uid_derive(parts=[study_uid, str(prediction.id), "secondary-capture"]),
            instance_number=number,
        )
        files.append(dataset_bytes(ds=ds))
    report = report_build(
        context=context,
        findings=[item.finding for item in screened],
        disclaimer=settings.CXR_DISCLAIMER,
        series_uid=uid_derive(parts=[study_uid, "report-series"]),
        sop_uid=uid_derive(parts=[study_uid, key, "report"]),
        instance_number=len(screened),
    )
    files.append(dataset_bytes(ds=report))
    return files


def results_send(*, study_id: str) -> str:
    """Send the study's results to the PACS unless already delivered; return what happened.

    Raises PacsSendError (the task retries) when the PACS is down or refuses the objects.
    """
    if not pacs_configured():
        return "no PACS configured"
    link = PacsStudyLink.objects.select_related("study").filter(study_id=study_id).first()
    if link is None or link.study.status != Study.Status.DONE:
        return "not a finished PACS study"
    screened = study_screened_list(study=link.study)
    if not screened:
        return "no images"
    key = results_key(predictions=[item.prediction for item in screened])
    if key == link.results_key:
        PacsStudyLink.objects.filter(pk=link.pk).update(results_sent=timezone.now())
        return "already sent"
    attributes = study_attributes_fetch(study_uid=link.study_instance_uid)
    files = results_objects_build(link=link, screened=screened, key=key, attributes=attributes)
    instances_stow(study_uid=link.study_instance_uid, files=files)
    PacsStudyLink.objects.filter(pk=link.pk).update(
        results_key=key, results_sent=timezone.now(), results_error=""
    )
    logger.info("Sent %d result objects of study %s to the PACS", len(files), study_id)
    return f"sent {len(files)}"


def results_failed_record(*, study_id: str, reason: str) -> None:
    """Remember why results could not be delivered (the sweep tries again later)."""
    PacsStudyLink.objects.filter(study_id=study_id).update(results_error=reason[:500])
