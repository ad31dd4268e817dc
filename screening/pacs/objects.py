"""Build the result objects of a PACS study: per screened image a Secondary Capture and a
Parametric Map of its heatmap, then one TID 1500 Measurement Report of every image.

UIDs are derived from the original study and the predictions (mlcore.dicomout.uid_derive), so
a re-run builds the same instances again and never duplicates them on the PACS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage

from mlcore.dicommap import SourceGeometry, parametric_map_build
from mlcore.dicomout import (
    Finding,
    StudyContext,
    dataset_bytes,
    secondary_capture_build,
    uid_derive,
)
from mlcore.dicomreport import report_build
from screening.models import Prediction
from screening.pacs.models import PacsStudyLink
from screening.storage import heatmap_values_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Screened:
    prediction: Prediction
    finding: Finding


def finding_from(*, prediction: Prediction) -> Finding:
    """Return the report builder's input for one prediction of a PACS image."""
    link = prediction.image.pacs_link
    evidence = prediction.evidence_in_lungs
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
        decision=prediction.decision or None,
        operating_point=prediction.operating_point or None,
        evidence_in_lungs=float(evidence) if evidence is not None else None,
    )


def _geometry(*, prediction: Prediction) -> SourceGeometry:
    """Return the source's matrix (kept by de-identification) and its pixel spacing."""
    from pydicom import dcmread

    image = prediction.image
    spacing = None
    with image.file.open("rb") as handle:
        ds = dcmread(handle, stop_before_pixels=True, force=True)
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            spacing = (float(value[0]), float(value[1]))
            break
    return SourceGeometry(rows=int(image.height), columns=int(image.width), pixel_spacing=spacing)


def _heatmap_values(*, prediction: Prediction):
    """Return the prediction's heatmap values, or None when they were not kept."""
    from mlcore.heatmapfile import heatmap_decode

    name = heatmap_values_name(heatmap_name=prediction.heatmap.name)
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        return heatmap_decode(data=handle.read())


def _image_objects(*, context: StudyContext, item: Screened, number: int) -> list[bytes]:
    """Return the Secondary Capture and (when the values were kept) the Parametric Map."""
    prediction, study_uid = item.prediction, context.study_instance_uid
    with prediction.heatmap.open("rb") as handle:
        overlay = handle.read()
    sc = secondary_capture_build(
        context=context,
        finding=item.finding,
        overlay=overlay,
        series_uid=uid_derive(parts=[study_uid, "secondary-capture-series"]),
        sop_uid=uid_derive(parts=[study_uid, str(prediction.id), "secondary-capture"]),
        instance_number=number,
    )
    files = [dataset_bytes(ds=sc)]
    heatmap = _heatmap_values(prediction=prediction)
    if heatmap is None:
        logger.warning("No heatmap values kept for prediction %s: no Parametric Map", prediction.id)
        return files
    pm = parametric_map_build(
        context=context,
        finding=item.finding,
        heatmap=heatmap,
        geometry=_geometry(prediction=prediction),
        series_uid=uid_derive(parts=[study_uid, "parametric-map-series"]),
        sop_uid=uid_derive(parts=[study_uid, str(prediction.id), "parametric-map"]),
        instance_number=number,
    )
    return [*files, dataset_bytes(ds=pm)]


def results_objects_build(
    *, link: PacsStudyLink, screened: list[Screened], key: str, attributes: dict[str, str]
) -> list[bytes]:
    """Return the Part 10 files to send: each image's SC and Parametric Map, then the report."""
    study_uid = link.study_instance_uid
    context = StudyContext(study_instance_uid=study_uid, attributes=attributes)
    files = []
    for number, item in enumerate(screened, start=1):
        if item.prediction.status == Prediction.Status.DONE and item.prediction.heatmap:
            files += _image_objects(context=context, item=item, number=number)
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
