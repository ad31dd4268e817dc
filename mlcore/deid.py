"""De-identify DICOM before anything is stored.

CONTRACT: dicom_deidentify(*, data) -> DeidentifiedDicom(data=bytes, attributes={...})
`attributes` keeps only non-identifying facts (Modality, ViewPosition, BodyPartExamined,
Rows, Columns, BitsStored, PhotometricInterpretation, TransferSyntax...).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeidentifiedDicom:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


def dicom_deidentify(*, data: bytes) -> DeidentifiedDicom:
    """Return the file with the basic profile's identifying attributes removed or replaced."""
    raise NotImplementedError
