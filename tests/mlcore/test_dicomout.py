"""mlcore.dicomout: the Secondary Capture and SR that carry results back to a PACS."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image

from mlcore import dicomout
from mlcore.dicomout import NOT_FOR_DIAGNOSTIC_USE, Finding, StudyContext

CONTEXT = StudyContext(
    study_instance_uid="1.2.826.0.1.3680043.8.498.1",
    attributes={"PatientID": "P-1", "PatientName": "Doe^Jane", "AccessionNumber": "A-9"},
)
SOURCE = "1.2.826.0.1.3680043.8.498"
MODEL = {"model_name": "cxr-v1", "model_version": "1.4.0"}
DONE = Finding(
    source_sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
    source_sop_instance_uid=f"{SOURCE}.2",
    source_series_instance_uid=f"{SOURCE}.3",
    status="done",
    label="covid",
    probabilities={"covid": 0.81, "pneumonia": 0.12, "normal": 0.07},
    **MODEL,
)
REJECTED = Finding(
    source_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    source_sop_instance_uid=f"{SOURCE}.4",
    source_series_instance_uid=f"{SOURCE}.5",
    status="rejected",
    reason="a CT or MR slice",
    **MODEL,
)


def overlay_png(size=(128, 100)) -> bytes:
    buf = BytesIO()
    Image.fromarray(np.full((*size, 3), 90, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_uids_are_deterministic_and_valid():
    a, b = dicomout.uid_derive(parts=["s", "p", "sc"]), dicomout.uid_derive(parts=["s", "p", "sr"])
    assert a == dicomout.uid_derive(parts=["s", "p", "sc"]) and a != b
    assert len(a) <= 64 and all(part.isdigit() for part in a.split("."))


def test_secondary_capture_has_the_result_burned_in():
    ds = dicomout.secondary_capture_build(
        context=CONTEXT, finding=DONE, overlay=overlay_png(), series_uid="1.2.3",
        sop_uid="1.2.3.4", instance_number=1,
    )  # fmt: skip
    back = pydicom.dcmread(BytesIO(dicomout.dataset_bytes(ds=ds)))
    assert back.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert back.StudyInstanceUID == CONTEXT.study_instance_uid and back.PatientID == "P-1"
    assert back.BurnedInAnnotation == "YES" and back.Manufacturer == "cxrscreen"
    for text in (NOT_FOR_DIAGNOSTIC_USE, "covid 0.81", "cxr-v1 1.4.0", "Label: covid"):
        assert text in back.ImageComments
    pixels = back.pixel_array
    assert pixels.shape[2] == 3 and pixels.shape[1] >= 768  # upscaled to be readable
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 100)
    assert red.sum() > 100  # the red NOT FOR DIAGNOSTIC USE text


def test_report_lists_each_image_with_gate_label_probabilities_and_model():
    sr = dicomout.report_build(
        context=CONTEXT, findings=[DONE, REJECTED], disclaimer="Educational only.",
        series_uid="1.2.3.5", sop_uid="1.2.3.6", instance_number=1,
    )  # fmt: skip
    back = pydicom.dcmread(BytesIO(dicomout.dataset_bytes(ds=sr)))
    assert back.SOPClassUID == pydicom.uid.ComprehensiveSRStorage
    assert back.PatientID == "P-1" and back.StudyInstanceUID == CONTEXT.study_instance_uid
    assert back.CompletionFlag == "COMPLETE" and back.VerificationFlag == "UNVERIFIED"
    disclaimer, first, second = back.ContentSequence
    assert NOT_FOR_DIAGNOSTIC_USE in disclaimer.TextValue and "Educational" in disclaimer.TextValue
    first_items = {i.ConceptNameCodeSequence[0].CodeMeaning: i for i in first.ContentSequence}
    assert first_items["Screening label"].TextValue == "covid"
    assert first_items["Input gate decision"].TextValue == "accepted"
    number = first_items["Probability of covid"].MeasuredValueSequence[0].NumericValue
    assert float(number) == pytest.approx(0.81)
    assert first_items["Model version"].TextValue == "1.4.0"
    source = first_items["Source image"].ReferencedSOPSequence[0]
    assert source.ReferencedSOPInstanceUID == DONE.source_sop_instance_uid
    second_items = {i.ConceptNameCodeSequence[0].CodeMeaning: i for i in second.ContentSequence}
    assert second_items["Input gate decision"].TextValue == "rejected"
    assert second_items["Input gate reason"].TextValue == "a CT or MR slice"
    assert "Screening label" not in second_items


def test_report_needs_a_finding():
    with pytest.raises(ValueError):
        dicomout.report_build(
            context=CONTEXT, findings=[], disclaimer="", series_uid="1.2", sop_uid="1.3",
            instance_number=1,
        )  # fmt: skip
