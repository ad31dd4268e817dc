"""De-identify DICOM before anything is stored.

CONTRACT: dicom_deidentify(*, data) -> DeidentifiedDicom(data=bytes, attributes={...})
`attributes` keeps only non-identifying facts (Modality, ViewPosition, BodyPartExamined,
Rows, Columns, BitsStored, PhotometricInterpretation, TransferSyntax...).

dicognito replaces names, IDs, UIDs, addresses and shifts dates; we then blank what the
PS3.15 basic profile removes, so no original identifying value survives even if dicognito
changes. Burned-in annotations in the pixels are NOT removed (BurnedInAnnotation is reported).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from io import BytesIO

from dicognito.anonymizer import Anonymizer
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from mlcore.errors import CorruptImageError, ImageError, NotAnImageError, UnsupportedDicomError
from mlcore.imageio.dicom import (
    PIXEL_KEYWORDS,
    dicom_attributes,
    dicom_bare_check,
    dicom_dataset_read,
    dicom_has_magic,
)

DEID_METHOD = "cxrscreen: dicognito + basic profile; private tags removed"  # LO: <= 64

# Blanked (type 2 needs an empty value) wherever they occur, including inside sequences.
BLANKED_KEYWORDS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientSex",
        "PatientAge",
        "PatientAddress",
        "OtherPatientIDs",
        "OtherPatientNames",
        "OtherPatientIDsSequence",
        "PatientBirthName",
        "PatientMotherBirthName",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "ReferringPhysicianName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "RequestingPhysician",
        "OperatorsName",
        "StationName",
        "DeviceSerialNumber",
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "StudyTime",
        "SeriesTime",
        "AcquisitionTime",
        "ContentTime",
        "AcquisitionDateTime",
        "InstanceCreationDate",
        "InstanceCreationTime",
        "PatientWeight",
        "PatientSize",
        "EthnicGroup",
        "AdditionalPatientHistory",
        "PatientComments",
        "MedicalAlerts",
        "Allergies",
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
        "RequestAttributesSequence",
        "ReferencedStudySequence",
        "ReferencedPatientSequence",
        "ProcedureCodeSequence",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "PerformedProcedureStepDescription",
        "RequestedProcedureDescription",
        "AdmittingDiagnosesDescription",
        "PatientState",
        "CountryOfResidence",
        "RegionOfResidence",
    }
)
FILE_META_REMOVED = ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle")


@dataclass(frozen=True)
class DeidentifiedDicom:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


def _element_blank(ds: Dataset, elem: DataElement) -> None:
    if elem.keyword in BLANKED_KEYWORDS:
        elem.value = [] if elem.VR == "SQ" else None
    elif elem.tag.group & 0xFF00 == 0x6000 and elem.tag.element in (0x3000, 0x4000):
        elem.value = None  # overlay data and comments can carry burned-in text


def dataset_deidentify(*, ds: Dataset) -> None:
    """De-identify `ds` in place: dicognito, then basic-profile blanking and private tags."""
    Anonymizer().anonymize(ds)
    ds.remove_private_tags()
    ds.walk(_element_blank)
    for keyword in FILE_META_REMOVED:
        if keyword in ds.file_meta:
            delattr(ds.file_meta, keyword)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD


def dicom_deidentify(*, data: bytes) -> DeidentifiedDicom:
    """Return the file with the basic profile's identifying attributes removed or replaced."""
    if not (dicom_has_magic(data=data) or dicom_bare_check(data=data)):
        raise NotAnImageError("The file is not a DICOM file.")
    ds = dicom_dataset_read(data=data)
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise UnsupportedDicomError("This DICOM file has no pixel data.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset_deidentify(ds=ds)
            buf = BytesIO()
            # Keep the original transfer syntax: pixel data is written back byte for byte.
            dcmwrite(buf, ds, enforce_file_format=True)
    except ImageError:
        raise
    except Exception as exc:
        raise CorruptImageError("The DICOM file is truncated or corrupt.") from exc
    attributes = dicom_attributes(ds=ds)
    attributes["PatientIdentityRemoved"] = "YES"
    attributes["BurnedInAnnotation"] = str(ds.get("BurnedInAnnotation", "") or "")
    return DeidentifiedDicom(data=buf.getvalue(), attributes=attributes)
