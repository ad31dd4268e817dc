"""The Grad-CAM heatmap as a DICOM Parametric Map on the source image's geometry (highdicom).

Pure Python, no Django. CONTRACT:
- parametric_map_build(*, context, finding, heatmap, geometry, series_uid, sop_uid,
  instance_number) -> Dataset: the heatmap (float, [0, 1]) resampled to the source image's
  rows and columns, stored as 16-bit values with a real world value mapping back to [0, 1],
  referencing the source image (its SOP Instance UID) so viewers can overlay it.
- parametric_map_read(*, ds) -> np.ndarray: the heatmap's real world values read back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from mlcore import dicomcodes as cx
from mlcore.dicomout import MANUFACTURER, Finding, StudyContext, study_attributes_copy, uid_derive

PM_SERIES_DESCRIPTION = "cxrscreen Grad-CAM map - NOT FOR DIAGNOSTIC USE"
PM_SERIES_NUMBER = 9903
LEVELS = 65535


@dataclass(frozen=True)
class SourceGeometry:
    """The source image's pixel matrix (and its pixel spacing in mm, when known)."""

    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None = None


def heatmap_resample(*, heatmap: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Return `heatmap` bilinearly resampled to rows x columns, clipped to [0, 1]."""
    image = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F")
    resized = image.resize((columns, rows), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _source_dataset(*, context: StudyContext, finding: Finding, geometry: SourceGeometry):
    """Return the source image's header as highdicom needs it (no pixels).

    A projection radiograph has no patient frame of reference, but a Parametric Map must have
    one: a nominal plane (derived from the source UID) at the source's pixel spacing keeps the
    map pixel for pixel on the source image.
    """
    ds = Dataset()
    study_attributes_copy(ds=ds, context=context)
    ds.SOPClassUID = finding.source_sop_class_uid
    ds.SOPInstanceUID = finding.source_sop_instance_uid
    ds.SeriesInstanceUID = finding.source_series_instance_uid
    ds.Modality = "DX"
    ds.Rows, ds.Columns = geometry.rows, geometry.columns
    ds.FrameOfReferenceUID = uid_derive(parts=[finding.source_sop_instance_uid, "frame"])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, 0]
    ds.PixelSpacing = list(geometry.pixel_spacing or (1.0, 1.0))
    ds.SliceThickness = 1
    return ds


def parametric_map_build(
    *,
    context: StudyContext,
    finding: Finding,
    heatmap: np.ndarray,
    geometry: SourceGeometry,
    series_uid: str,
    sop_uid: str,
    instance_number: int,
) -> Dataset:
    """Return the Parametric Map of the heatmap over the source image."""
    import highdicom as hd

    values = heatmap_resample(heatmap=heatmap, rows=geometry.rows, columns=geometry.columns)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="GRADCAM",
        lut_explanation=cx.HEATMAP.meaning,
        unit=cx.NO_UNITS,
        value_range=(0, LEVELS),
        intercept=0,
        slope=1 / LEVELS,
        quantity_definition=cx.HEATMAP,
    )
    pm = hd.pm.ParametricMap(
        source_images=[_source_dataset(context=context, finding=finding, geometry=geometry)],
        pixel_array=np.rint(values * LEVELS).astype(np.uint16),
        series_instance_uid=series_uid,
        series_number=PM_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=(finding.model_name or MANUFACTURER)[:64],
        software_versions=finding.model_version or "unknown",
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[
            hd.VOILUTTransformation(window_center=LEVELS / 2, window_width=LEVELS)
        ],
        content_description="Grad-CAM heatmap, educational, NOT FOR DIAGNOSTIC USE",
        content_label="GRADCAM",
    )
    pm.SeriesDescription = PM_SERIES_DESCRIPTION
    pm.Laterality = ""  # type 2C in General Series, which dciodvfy requires present
    return pm


def parametric_map_read(*, ds: Dataset) -> np.ndarray:
    """Return the map's real world values (rows x columns, float) read back with highdicom."""
    import highdicom as hd

    pm = hd.pm.ParametricMap.from_dataset(ds, copy=True)
    mapping = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    stored = pm.pixel_array.astype(np.float64)
    return stored * float(mapping.RealWorldValueSlope) + float(mapping.RealWorldValueIntercept)
