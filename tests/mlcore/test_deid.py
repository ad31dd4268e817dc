"""De-identification removes every identifying value and keeps the pixels byte for byte."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest

from mlcore.deid import dicom_deidentify
from mlcore.errors import CorruptImageError, NotAnImageError, UnsupportedDicomError
from mlcore.imageio import image_decode
from mlcore.testing import arrays, files

PATIENT = {
    "PatientName": "DOE^JOHN",
    "PatientID": "PID-12345",
    "PatientBirthDate": "19700101",
    "PatientAddress": "42 Marker Street Springfield",
    "OtherPatientIDs": "OPID-67890",
    "AccessionNumber": "ACC-998877",
    "InstitutionName": "St Example Hospital",
    "InstitutionAddress": "7 Hospital Road Exampleton",
    "ReferringPhysicianName": "HOUSE^GREGORY",
    "PerformingPhysicianName": "GREY^MEREDITH",
    "OperatorsName": "OPER^ATOR",
    "StudyDate": "20240315",
    "SeriesDate": "20240316",
    "AcquisitionDate": "20240317",
    "ContentDate": "20240318",
    "StudyTime": "101530",
    "SeriesTime": "111531",
    "AcquisitionTime": "121532",
    "ContentTime": "131533",
    "StationName": "XRAY-ROOM-MARKER",
    "StudyDescription": "CHEST FOR DOE JOHN",
}
# Name and address parts: short, so only searched outside the pixel data (where any
# three bytes can occur by chance).
PARTS = ["DOE", "JOHN", "GREGORY", "MEREDITH", "Springfield", "Exampleton"]
MARKERS = [*PATIENT.values(), *PARTS]
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _header(data: bytes) -> bytes:
    return data[: data.index(PIXEL_DATA_TAG)]


def _read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(data))


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return arrays.chest_like_array(size=(96, 96), seed=11)


def _with_private_tag(data: bytes) -> bytes:
    ds = _read(data)
    block = ds.private_block(0x0011, "MARKER VENDOR", create=True)
    block.add_new(0x01, "LO", "PRIVATE-SECRET-MARKER")
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle", "jpeg2000", "jpeg_baseline"])
def test_no_identifying_value_survives(chest: np.ndarray, syntax: str) -> None:
    original = _with_private_tag(
        files.dicom_bytes(pixels=chest, bits=8, transfer_syntax=syntax, patient=PATIENT)
    )
    assert all(m.encode() in original for m in MARKERS)  # the test input really carries them
    before = _read(original)

    result = dicom_deidentify(data=original)

    for marker in [*PATIENT.values(), "PRIVATE-SECRET-MARKER", "MARKER VENDOR"]:
        assert marker.encode() not in result.data, marker
    for part in PARTS:
        assert part.encode() not in _header(result.data), part
    after = _read(result.data)
    for uid in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert getattr(after, uid) != getattr(before, uid)
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.PatientIdentityRemoved == "YES"
    assert after.DeidentificationMethod
    assert str(after.PatientName) == "" and after.PatientID == ""
    # Pixels and transfer syntax are untouched.
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.PixelData == before.PixelData
    assert np.array_equal(after.pixel_array, before.pixel_array)


def test_attributes_are_non_identifying(chest: np.ndarray) -> None:
    data = files.dicom_bytes(pixels=chest, bits=12, modality="CR", patient=PATIENT)
    attrs = dicom_deidentify(data=data).attributes
    assert attrs["Modality"] == "CR"
    assert attrs["ViewPosition"] == "PA"
    assert attrs["BodyPartExamined"] == "CHEST"
    assert attrs["Rows"] == "96" and attrs["BitsStored"] == "12"
    assert attrs["TransferSyntax"] == "Explicit VR Little Endian"
    assert attrs["PatientIdentityRemoved"] == "YES"
    joined = " ".join(attrs.values())
    assert not any(m in joined for m in MARKERS)


def test_output_still_decodes_the_same(chest: np.ndarray) -> None:
    data = files.dicom_bytes(pixels=chest, bits=16, patient=PATIENT)
    clean = dicom_deidentify(data=data).data
    assert np.array_equal(image_decode(data=clean).pixels, image_decode(data=data).pixels)


def test_names_in_sequences_are_removed(chest: np.ndarray) -> None:
    ds = _read(files.dicom_bytes(pixels=chest, bits=8))
    item = pydicom.Dataset()
    item.PatientName = "NESTED^MARKER"
    item.AccessionNumber = "NESTED-ACC-1"
    ds.RequestAttributesSequence = [item]
    ds.ReferencedImageSequence = [pydicom.Dataset()]
    ds.ReferencedImageSequence[0].PerformingPhysicianName = "DEEP^DOCTOR"
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    out = dicom_deidentify(data=buf.getvalue()).data
    for marker in (b"NESTED", b"MARKER", b"DEEP", b"DOCTOR", b"NESTED-ACC-1"):
        assert marker not in _header(out)


def test_preamble_less_input_gets_a_proper_file(chest: np.ndarray) -> None:
    data = files.dicom_bytes(
        pixels=chest, bits=16, preamble=False, transfer_syntax="implicit", patient=PATIENT
    )
    out = dicom_deidentify(data=data).data
    assert out[128:132] == b"DICM"
    assert not any(m.encode() in _header(out) for m in MARKERS)


def test_unreadable_input_raises_typed_errors(chest: np.ndarray) -> None:
    with pytest.raises(NotAnImageError):
        dicom_deidentify(data=b"definitely not dicom")
    with pytest.raises(CorruptImageError):
        dicom_deidentify(data=files.dicom_bytes(pixels=chest)[:400])
    with pytest.raises(UnsupportedDicomError, match="no pixel data"):
        dicom_deidentify(data=files.dicom_bytes(pixels=chest, with_pixels=False))
    with pytest.raises(NotAnImageError):
        dicom_deidentify(data=b"")
