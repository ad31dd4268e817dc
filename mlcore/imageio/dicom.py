"""Decode single-frame DICOM with pydicom (pylibjpeg handles compressed syntaxes).

Greyscale frames pass through the modality and VOI LUTs. Colour frames (RGB or YCbCr, which
pydicom turns into RGB) are judged as a PNG or JPEG is: greyscale stored as colour becomes
greyscale, real colour is left for the input gate to refuse with its reason.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from io import BytesIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from mlcore.errors import CorruptImageError, UnsupportedDicomError
from mlcore.imageio.common import (
    DecodedImage,
    colour_resolve,
    decoded_image_build,
    pixels_normalise,
    size_check,
)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREYSCALE = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
ATTRIBUTE_KEYWORDS = (
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
    "PatientOrientation",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsStored",
)
# A file without preamble must start with a file-meta or identifying-group element.
_BARE_FIRST_GROUPS = (0x0002, 0x0008)
_CORRUPT = "The DICOM file is truncated or corrupt."


def dicom_has_magic(*, data: bytes) -> bool:
    """Return True for a Part 10 file ("DICM" after the 128-byte preamble)."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def dicom_bare_check(*, data: bytes) -> bool:
    """Return True for a preamble-less dataset that parses and holds pixels or a SOP class."""
    if len(data) < 8 or struct.unpack("<H", data[:2])[0] not in _BARE_FIRST_GROUPS:
        return False
    try:
        ds = dicom_dataset_read(data=data)
    except CorruptImageError:
        return False
    return any(k in ds for k in PIXEL_KEYWORDS) or "SOPClassUID" in ds


def dicom_dataset_read(*, data: bytes) -> Dataset:
    """Parse `data` and make sure file meta names a transfer syntax."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(BytesIO(data), force=True)
            if not ds.file_meta.get("TransferSyntaxUID"):
                ds.file_meta = ds.file_meta or FileMetaDataset()
                implicit, little = ds.original_encoding
                ds.file_meta.TransferSyntaxUID = (
                    ImplicitVRLittleEndian
                    if implicit
                    else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
                )
    except Exception as exc:
        raise CorruptImageError(_CORRUPT) from exc
    if dataset_is_truncated(ds=ds):
        raise CorruptImageError(_CORRUPT)
    return ds


def dataset_is_truncated(*, ds: Dataset) -> bool:
    """Return True when an element holds fewer bytes than its header declares.

    pydicom stops quietly at the end of a short file, so this is how a cut-off upload shows.
    """
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset would convert every element
        raw = ds.get_item(tag)
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if length is None or length == 0xFFFFFFFF or not isinstance(value, bytes | bytearray):
            continue
        if len(value) < length:
            return True
    return False


def _text(value: object) -> str:
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def dicom_attributes(*, ds: Dataset) -> dict[str, str]:
    """Return non-identifying facts about the image (empty string when absent)."""
    attrs = {k: _text(ds.get(k)) for k in ATTRIBUTE_KEYWORDS}
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    sop = ds.get("SOPClassUID")
    attrs["TransferSyntaxUID"] = str(ts or "")
    attrs["TransferSyntax"] = UID(str(ts)).name if ts else ""
    attrs["SOPClassUID"] = str(sop or "")
    attrs["SOPClass"] = UID(str(sop)).name if sop else ""
    return attrs


def dicom_check(*, ds: Dataset, max_pixels: int, min_side: int) -> None:
    """Refuse what we cannot screen before decoding any pixel."""
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise UnsupportedDicomError("This DICOM file has no pixel data.")
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        samples = int(ds.get("SamplesPerPixel") or 1)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except Exception as exc:
        raise CorruptImageError(_CORRUPT) from exc
    if frames > 1:
        modality = _text(ds.get("Modality")) or "not given"
        raise UnsupportedDicomError(
            f"Multi-frame DICOM is not supported: this file holds {frames} frames (Modality "
            f"{modality}). Send one frame of a chest radiograph."
        )
    photometric = _text(ds.get("PhotometricInterpretation")).upper()
    greyscale = samples == 1 and photometric in (*GREYSCALE, "")
    if not greyscale and not (samples == 3 and photometric in COLOUR):
        stored = photometric or "an unnamed photometric interpretation"
        raise UnsupportedDicomError(
            f"This DICOM stores its pixels as {stored} ({samples} per pixel), which is not "
            "supported: send greyscale or RGB DICOM, or a PNG or JPEG."
        )
    size_check(width=cols, height=rows, max_pixels=max_pixels, min_side=min_side)


def dicom_pixels(*, ds: Dataset) -> np.ndarray:
    """Decode the stored values; a compressed syntax that fails is 'unsupported'."""
    ts = UID(str(ds.file_meta.TransferSyntaxUID))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except Exception as exc:
        if ts.is_compressed:
            raise UnsupportedDicomError(
                f"This DICOM image ({ts.name}) could not be decoded: "
                "send it uncompressed, or as PNG or JPEG."
            ) from exc
        raise CorruptImageError(_CORRUPT) from exc
    if arr.ndim != 2 and not (arr.ndim == 3 and arr.shape[2] == 3):
        raise UnsupportedDicomError("Only single-frame DICOM is supported.")
    return arr


def dicom_colour_display(*, arr: np.ndarray, bits: int) -> np.ndarray:
    """Scale RGB stored values to [0, 1] by their bit depth (no LUT applies to colour)."""
    top = float(2 ** min(max(bits, 1), 16) - 1)
    return np.clip(arr.astype(np.float32) / top, 0.0, 1.0)


def dicom_display(*, arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Apply modality LUT, VOI LUT/window and MONOCHROME1 inversion; return [0, 1] float32."""
    out: np.ndarray = arr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = apply_modality_lut(arr, ds)
        except Exception:  # a malformed rescale must not cost the user the image
            out = arr
        # An invalid window (e.g. width 0) is ignored: the full range is shown instead.
        with contextlib.suppress(Exception):
            out = apply_voi_lut(out, ds)
    pixels = pixels_normalise(pixels=out)
    if _text(ds.get("PhotometricInterpretation")).upper() == "MONOCHROME1":
        pixels = 1.0 - pixels  # MONOCHROME1 stores dense as dark; we always want white = dense
    return np.ascontiguousarray(pixels, dtype=np.float32)


def dicom_decode(*, data: bytes, max_pixels: int, min_side: int) -> DecodedImage:
    """Decode one DICOM frame into a DecodedImage."""
    ds = dicom_dataset_read(data=data)
    dicom_check(ds=ds, max_pixels=max_pixels, min_side=min_side)
    arr = dicom_pixels(ds=ds)
    try:
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    except (TypeError, ValueError):
        bits = 16
    if arr.ndim == 3:
        pixels, is_colour = colour_resolve(pixels=dicom_colour_display(arr=arr, bits=bits))
    else:
        pixels, is_colour = dicom_display(arr=arr, ds=ds), False
    attributes = dicom_attributes(ds=ds)
    return decoded_image_build(
        pixels=pixels, fmt="dicom", bits_stored=bits, is_colour=is_colour, dicom=attributes
    )
