"""The results report (TID 1500, highdicom) and the Grad-CAM Parametric Map: valid DICOM that
dciodvfy accepts, read back with highdicom into the same figures."""

from __future__ import annotations

from dataclasses import replace
from io import BytesIO

import numpy as np
import pydicom
import pytest

from mlcore.dicommap import SourceGeometry, parametric_map_build, parametric_map_read
from mlcore.dicomout import NOT_FOR_DIAGNOSTIC_USE, dataset_bytes
from mlcore.dicomreport import report_build, report_read
from mlcore.labels import LABELS
from tests.mlcore.test_dicomout import CONTEXT, DONE, REJECTED
from tests.support.dciodvfy import dciodvfy_errors

SCREENED = replace(
    DONE, decision="refer", operating_point="high-sensitivity", evidence_in_lungs=0.8
)


def report_of(findings) -> pydicom.Dataset:
    sr = report_build(
        context=CONTEXT, findings=findings, disclaimer="Educational only.",
        series_uid="1.2.3.5", sop_uid="1.2.3.6", instance_number=1,
    )  # fmt: skip
    data = dataset_bytes(ds=sr)
    assert dciodvfy_errors(data) == []
    return pydicom.dcmread(BytesIO(data))


def test_report_is_a_tid_1500_measurement_report_of_a_device():
    back = report_of([SCREENED, REJECTED])
    assert back.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert back.PatientID == "P-1" and back.StudyInstanceUID == CONTEXT.study_instance_uid
    assert back.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    title = back.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("126000", "DCM")
    items = {i.ConceptNameCodeSequence[0].CodeMeaning: i for i in back.ContentSequence}
    assert items["Observer Type"].ConceptCodeSequence[0].CodeMeaning == "Device"
    assert items["Procedure reported"].ConceptCodeSequence[0].CodeValue == "399208008"
    evidence = back.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert {s.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for s in evidence} == {
        DONE.source_sop_instance_uid,
        REJECTED.source_sop_instance_uid,
    }


def test_report_reads_back_into_the_same_figures():
    images, disclaimer = report_read(ds=report_of([SCREENED, REJECTED]))
    assert disclaimer.startswith(NOT_FOR_DIAGNOSTIC_USE) and "Educational only." in disclaimer
    first, second = images
    assert first == {
        "source_sop_instance_uid": DONE.source_sop_instance_uid,
        "label": "covid",
        "probabilities": pytest.approx(DONE.probabilities),
        "evidence_in_lungs": pytest.approx(0.8),
        "gate_decision": "accepted",
        "model_name": "cxr-v1",
        "model_version": "1.4.0",
        "reason": "",
        "decision": "refer",
        "operating_point": "high-sensitivity",
    }
    assert list(first["probabilities"]) == list(LABELS)
    assert second["source_sop_instance_uid"] == REJECTED.source_sop_instance_uid
    assert (second["gate_decision"], second["reason"]) == ("rejected", "a CT or MR slice")
    assert second["label"] == "" and second["probabilities"] == {}
    assert second["decision"] is None and second["evidence_in_lungs"] is None


def test_report_codes_the_finding_in_snomed_ct():
    back = report_of([DONE])
    group = back.ContentSequence[-2].ContentSequence[0]  # Imaging Measurements > the group
    coded = {
        i.ConceptNameCodeSequence[0].CodeMeaning: i.ConceptCodeSequence[0]
        for i in group.ContentSequence
        if i.ValueType == "CODE"
    }
    finding = coded["Finding"]
    assert (finding.CodingSchemeDesignator, finding.CodeValue) == ("SCT", "840539006")


def test_report_needs_a_finding():
    with pytest.raises(ValueError):
        report_build(
            context=CONTEXT, findings=[], disclaimer="", series_uid="1.2", sop_uid="1.3",
            instance_number=1,
        )  # fmt: skip


def test_parametric_map_lies_on_the_source_geometry_and_reads_back():
    heatmap = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(40, 30)
    pm = parametric_map_build(
        context=CONTEXT, finding=DONE, heatmap=heatmap,
        geometry=SourceGeometry(rows=200, columns=150, pixel_spacing=(0.14, 0.14)),
        series_uid="1.2.3.7", sop_uid="1.2.3.8", instance_number=1,
    )  # fmt: skip
    data = dataset_bytes(ds=pm)
    assert dciodvfy_errors(data) == []
    back = pydicom.dcmread(BytesIO(data))
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    assert (back.Rows, back.Columns) == (200, 150)
    assert back.StudyInstanceUID == CONTEXT.study_instance_uid and back.PatientID == "P-1"
    referenced = back.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == DONE.source_sop_instance_uid
    values = parametric_map_read(ds=back)
    assert values.shape == (200, 150)
    assert values[0, 0] == pytest.approx(0, abs=1e-4) and values[-1, -1] == pytest.approx(
        1, abs=1e-4
    )
    assert np.all(np.diff(values[100]) >= -1e-6)  # resampled, order kept
