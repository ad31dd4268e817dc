"""The results report: a TID 1500 Measurement Report (Comprehensive 3D SR) built with highdicom.

Pure Python, no Django. CONTRACT:
report_build(*, context, findings, disclaimer, series_uid, sop_uid, instance_number) -> Dataset
- the observer context of a device (the screening software) and, per image, a measurement group
  with TID 4019 (algorithm name and version), the source image's SOP Instance UID, the gate
  decision (and reason), the finding coded in SNOMED CT, the probability of each class
  (mlcore.labels order), the screening decision and operating point and the Grad-CAM share
  inside the lung fields when known;
- the disclaimer in the report's qualitative evaluations.
report_read(*, ds) -> (list of per-image dicts, disclaimer): the same figures read back with
highdicom.
Codes and why some are private: mlcore.dicomcodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from mlcore import dicomcodes as cx
from mlcore.dicomout import (
    MANUFACTURER,
    NOT_FOR_DIAGNOSTIC_USE,
    SR_SERIES_DESCRIPTION,
    Finding,
    StudyContext,
    study_attributes_copy,
    uid_derive,
)
from mlcore.labels import LABELS

SR_SERIES_NUMBER = 9902


def _text(*, name, value: str):
    from highdicom.sr import TextContentItem

    return TextContentItem(name=name, value=value[:1000] or "-", relationship_type="CONTAINS")


def _measurement(*, finding: Finding, name, value: float):
    from highdicom.sr import Measurement, SourceImageForMeasurement

    source = SourceImageForMeasurement(
        referenced_sop_class_uid=finding.source_sop_class_uid,
        referenced_sop_instance_uid=finding.source_sop_instance_uid,
    )
    return Measurement(
        name=name, value=round(float(value), 6), unit=cx.NO_UNITS, referenced_images=[source]
    )


def _measurements(*, finding: Finding) -> list:
    found = []
    if finding.status == "done":
        for label in LABELS:
            value = finding.probabilities.get(label, 0.0)
            found.append(
                _measurement(finding=finding, name=cx.PROBABILITY_CODES[label], value=value)
            )
    if finding.evidence_in_lungs is not None:
        found.append(
            _measurement(
                finding=finding, name=cx.EVIDENCE_IN_LUNGS, value=finding.evidence_in_lungs
            )
        )
    return found


def _evaluations(*, finding: Finding) -> list:
    from highdicom.sr import QualitativeEvaluation

    return [QualitativeEvaluation(cx.GATE_DECISION, cx.GATE_VALUES[finding.gate_decision])]


def _texts(*, finding: Finding) -> list:
    texts = []
    if finding.reason:
        texts.append(_text(name=cx.GATE_REASON, value=finding.reason))
    if finding.decision is not None:
        texts.append(_text(name=cx.DECISION, value=finding.decision))
    if finding.operating_point is not None:
        texts.append(_text(name=cx.OPERATING_POINT, value=finding.operating_point))
    return texts


def group_build(*, finding: Finding, number: int):
    """Return one image's measurement group (TID 1501) referencing its source image."""
    from highdicom.sr import (
        AlgorithmIdentification,
        MeasurementsAndQualitativeEvaluations,
        SourceImageForMeasurementGroup,
        TrackingIdentifier,
    )

    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(
            uid=uid_derive(parts=[finding.source_sop_instance_uid, "tracking"]),
            identifier=f"Image {number}",
        ),
        finding_type=cx.LABEL_CODES.get(finding.label) if finding.status == "done" else None,
        algorithm_id=AlgorithmIdentification(
            name=finding.model_name or MANUFACTURER, version=finding.model_version or "unknown"
        ),
        source_images=[
            SourceImageForMeasurementGroup(
                referenced_sop_class_uid=finding.source_sop_class_uid,
                referenced_sop_instance_uid=finding.source_sop_instance_uid,
            )
        ],
        measurements=_measurements(finding=finding) or None,
        qualitative_evaluations=_evaluations(finding=finding),
    )
    group[0].ContentSequence.extend(_texts(finding=finding))
    return group


def _observation_context(*, findings: Sequence[Finding]):
    from highdicom.sr import (
        DeviceObserverIdentifyingAttributes,
        ObservationContext,
        ObserverContext,
    )
    from pydicom.sr.codedict import codes

    model = findings[0].model_name or MANUFACTURER
    device = DeviceObserverIdentifyingAttributes(
        uid=uid_derive(parts=["device", MANUFACTURER, model]),
        name=MANUFACTURER,
        manufacturer_name=MANUFACTURER,
        model_name=model[:64],
    )
    observer = ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device
    )
    return ObservationContext(observer_device_context=observer)


def _evidence(*, context: StudyContext, findings: Sequence[Finding]) -> list[Dataset]:
    evidence = []
    for finding in findings:
        ds = Dataset()
        study_attributes_copy(ds=ds, context=context)
        ds.SeriesInstanceUID = finding.source_series_instance_uid
        ds.SOPClassUID = finding.source_sop_class_uid
        ds.SOPInstanceUID = finding.source_sop_instance_uid
        evidence.append(ds)
    return evidence


def report_build(
    *,
    context: StudyContext,
    findings: Sequence[Finding],
    disclaimer: str,
    series_uid: str,
    sop_uid: str,
    instance_number: int,
) -> Dataset:
    """Return the TID 1500 Measurement Report of every image, with the disclaimer."""
    from highdicom.sr import Comprehensive3DSR, ContainerContentItem, MeasurementReport

    if not findings:
        raise ValueError("a report needs at least one finding")
    report = MeasurementReport(
        observation_context=_observation_context(findings=findings),
        procedure_reported=cx.PROCEDURE,
        imaging_measurements=[
            group_build(finding=finding, number=number)
            for number, finding in enumerate(findings, start=1)
        ],
    )
    evaluations = ContainerContentItem(
        name=cx.QUALITATIVE_EVALUATIONS, relationship_type="CONTAINS"
    )
    text = f"{NOT_FOR_DIAGNOSTIC_USE}. {disclaimer}"
    evaluations.ContentSequence = [_text(name=cx.DISCLAIMER, value=text)]
    report[0].ContentSequence.append(evaluations)
    sr = Comprehensive3DSR(
        evidence=_evidence(context=context, findings=findings),
        content=report[0],
        series_instance_uid=series_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = SR_SERIES_DESCRIPTION
    return sr


def _group_read(*, group) -> dict:
    """Return one measurement group's figures (see report_read)."""
    by_code = {cx.PROBABILITY_CODES[label].value: label for label in LABELS}
    labels = {code.value: label for label, code in cx.LABEL_CODES.items()}
    read = {
        "source_sop_instance_uid": group.source_images[0].referenced_sop_instance_uid,
        "label": labels.get(group.finding_type.value, "") if group.finding_type else "",
        "probabilities": {},
        "evidence_in_lungs": None,
    }
    for measurement in group.get_measurements():
        if measurement.name.value == cx.EVIDENCE_IN_LUNGS.value:
            read["evidence_in_lungs"] = float(measurement.value)
        elif measurement.name.value in by_code:
            read["probabilities"][by_code[measurement.name.value]] = float(measurement.value)
    for evaluation in group.get_qualitative_evaluations():
        if evaluation.name.value == cx.GATE_DECISION.value:
            read["gate_decision"] = evaluation.value.meaning
    texts = {
        item.ConceptNameCodeSequence[0].CodeValue: str(item.TextValue)
        for item in group[0].ContentSequence
        if item.ValueType == "TEXT"
    }
    read["model_name"], read["model_version"] = texts.get("111001"), texts.get("111003")
    read["reason"] = texts.get(cx.GATE_REASON.value, "")
    read["decision"] = texts.get(cx.DECISION.value)
    read["operating_point"] = texts.get(cx.OPERATING_POINT.value)
    return read


def report_read(*, ds: Dataset) -> tuple[list[dict], str]:
    """Read a report built here back with highdicom: per-image figures and the disclaimer."""
    from highdicom.sr import Comprehensive3DSR

    sr = Comprehensive3DSR.from_dataset(ds, copy=True)
    images = [_group_read(group=group) for group in sr.content.get_image_measurement_groups()]
    disclaimer = ""
    for item in ds.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == cx.QUALITATIVE_EVALUATIONS.value:
            disclaimer = str(item.ContentSequence[0].TextValue)
    return images, disclaimer
