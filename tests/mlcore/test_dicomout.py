"""mlcore.dicomout: deterministic UIDs and the Secondary Capture that carries results back."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
from PIL import Image

from mlcore import dicomout
from mlcore.dicomout import NOT_FOR_DIAGNOSTIC_USE, Finding, StudyContext
from tests.support.dciodvfy import dciodvfy_errors

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
    data = dicomout.dataset_bytes(ds=ds)
    assert dciodvfy_errors(data) == []
    back = pydicom.dcmread(BytesIO(data))
    assert back.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert back.StudyInstanceUID == CONTEXT.study_instance_uid and back.PatientID == "P-1"
    assert back.BurnedInAnnotation == "YES" and back.Manufacturer == "cxrscreen"
    for text in (NOT_FOR_DIAGNOSTIC_USE, "covid 0.81", "cxr-v1 1.4.0", "Label: covid"):
        assert text in back.ImageComments
    pixels = back.pixel_array
    assert pixels.shape[2] == 3 and pixels.shape[1] >= 768  # upscaled to be readable
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 100)
    assert red.sum() > 100  # the red NOT FOR DIAGNOSTIC USE text
