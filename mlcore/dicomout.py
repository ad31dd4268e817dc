"""The common parts of the DICOM results sent back to a PACS, and the Secondary Capture.

Pure Python, no Django. CONTRACT:
- Finding: one image's result, the input of every builder (this module, mlcore.dicomreport,
  mlcore.dicommap).
- uid_derive(*, parts) -> str: the same parts always give the same UID, so a re-sent object
  replaces (never duplicates) the one already on the PACS.
- secondary_capture_build(*, context, finding, overlay, series_uid, sop_uid,
  instance_number) -> Dataset: the heatmap overlay with the result and "NOT FOR DIAGNOSTIC USE"
  burned in (Secondary Capture, RGB, 8 bit).
- dataset_bytes(*, ds) -> bytes: a Part 10 file.

Every object goes into the original study (`context.study_instance_uid`) with the patient and
study attributes the PACS itself holds for that study (`StudyContext`, read at send time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from mlcore.labels import LABELS

NOT_FOR_DIAGNOSTIC_USE = "NOT FOR DIAGNOSTIC USE"
MANUFACTURER = "cxrscreen"
SC_SERIES_DESCRIPTION = "cxrscreen heatmap - NOT FOR DIAGNOSTIC USE"
SR_SERIES_DESCRIPTION = "cxrscreen report - NOT FOR DIAGNOSTIC USE"
SC_MIN_WIDTH = 768
STUDY_KEYWORDS = (
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
    "StudyDate", "StudyTime", "ReferringPhysicianName",
)  # fmt: skip


@dataclass(frozen=True)
class StudyContext:
    """The original study: its UID and the patient/study attributes the PACS holds for it."""

    study_instance_uid: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One screened (or refused) image of the study."""

    source_sop_class_uid: str
    source_sop_instance_uid: str
    source_series_instance_uid: str
    status: str  # done | rejected | failed
    label: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    model_name: str = ""
    model_version: str = ""
    # The screening decision at a named operating point, and the share of Grad-CAM mass inside
    # the lung fields, when the prediction has them.
    decision: str | None = None
    operating_point: str | None = None
    evidence_in_lungs: float | None = None

    @property
    def gate_decision(self) -> str:
        return {"done": "accepted", "rejected": "rejected"}.get(self.status, "not screened")


def uid_derive(*, parts: Sequence[str]) -> str:
    """Return a UID that depends only on `parts` (deterministic, under pydicom's root)."""
    return generate_uid(entropy_srcs=["cxrscreen", *[str(p) for p in parts]])


def finding_lines(*, finding: Finding) -> list[str]:
    """Return the result as short text lines (burned into the Secondary Capture)."""
    lines = [NOT_FOR_DIAGNOSTIC_USE, "cxrscreen educational screening output"]
    if finding.status == "done":
        lines.append(f"Label: {finding.label}")
        probs = "  ".join(f"{key} {finding.probabilities.get(key, 0.0):.2f}" for key in LABELS)
        lines.append(f"Probabilities: {probs}")
    else:
        lines.append(f"Gate: {finding.gate_decision}: {finding.reason}"[:120])
    lines.append(f"Model: {finding.model_name} {finding.model_version}")
    lines.append(NOT_FOR_DIAGNOSTIC_USE)
    return lines


def overlay_annotate(*, overlay: bytes, lines: Sequence[str]) -> np.ndarray:
    """Return the overlay (upscaled to a readable width) with a text band below it, RGB uint8."""
    image = Image.open(BytesIO(overlay)).convert("RGB")
    if image.width < SC_MIN_WIDTH:
        height = round(image.height * SC_MIN_WIDTH / image.width)
        image = image.resize((SC_MIN_WIDTH, height), Image.Resampling.BICUBIC)
    size = max(14, image.width // 40)
    font = ImageFont.load_default(size=size)
    band = (size + 8) * len(lines) + 12
    canvas = Image.new("RGB", (image.width, image.height + band), (0, 0, 0))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(lines):
        colour = (255, 60, 60) if text == NOT_FOR_DIAGNOSTIC_USE else (255, 255, 255)
        draw.text((10, image.height + 6 + row * (size + 8)), text, fill=colour, font=font)
    left, top, right, bottom = draw.textbbox((10, 8), NOT_FOR_DIAGNOSTIC_USE, font=font)
    draw.rectangle((left - 4, top - 4, right + 4, bottom + 4), fill=(0, 0, 0))
    draw.text((10, 8), NOT_FOR_DIAGNOSTIC_USE, fill=(255, 60, 60), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def study_attributes_copy(*, ds: Dataset, context: StudyContext) -> None:
    """Put the original study's UID and the PACS's patient and study attributes on `ds`."""
    ds.StudyInstanceUID = context.study_instance_uid
    for keyword in STUDY_KEYWORDS:
        setattr(ds, keyword, context.attributes.get(keyword, "") or "")


def _now() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def secondary_capture_build(
    *,
    context: StudyContext,
    finding: Finding,
    overlay: bytes,
    series_uid: str,
    sop_uid: str,
    instance_number: int,
) -> Dataset:
    """Return a Secondary Capture of the overlay with the result burned in."""
    rgb = overlay_annotate(overlay=overlay, lines=finding_lines(finding=finding))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop_uid
    study_attributes_copy(ds=ds, context=context)
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, 9901, instance_number
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.ContentDate, ds.ContentTime = _now()
    ds.Manufacturer, ds.SeriesDescription = MANUFACTURER, SC_SERIES_DESCRIPTION
    ds.ImageComments = " ".join(finding_lines(finding=finding))[:10240]
    ds.BurnedInAnnotation, ds.RecognizableVisualFeatures = "YES", "NO"
    ds.DerivationDescription = f"Grad-CAM overlay by {finding.model_name} {finding.model_version}"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PatientOrientation = ""
    ds.Laterality = ""  # type 2C in General Series, which dciodvfy requires present
    ds.PixelData = np.ascontiguousarray(rgb).tobytes()
    return ds


def dataset_bytes(*, ds: Dataset) -> bytes:
    """Return `ds` as a DICOM Part 10 file."""
    buf = BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()
