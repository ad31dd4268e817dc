"""Deterministic test files: arrays in [0, 1] encoded as real PNG, JPEG and DICOM bytes."""

from __future__ import annotations

from io import BytesIO
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from mlcore.preprocess import grayscale_convert

TransferName = Literal["explicit", "implicit", "jpeg_baseline", "jpeg2000", "rle"]

_SOP_CLASSES = {
    "CR": ComputedRadiographyImageStorage,
    "DX": DigitalXRayImageStorageForPresentation,
    "CT": CTImageStorage,
    "MR": MRImageStorage,
}


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)


def _pil_image(
    *, pixels: np.ndarray, mode: str, bits: int, alpha: np.ndarray | None
) -> Image.Image:
    if bits == 16:
        if mode != "L":
            raise ValueError("16-bit output is available for mode 'L' only")
        grey = np.round(np.clip(grayscale_convert(pixels=pixels), 0, 1) * 65535).astype(np.uint16)
        return Image.fromarray(grey)  # Pillow stores uint16 as mode "I;16"
    if bits != 8:
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    a = _to_uint8(np.ones(pixels.shape[:2]) if alpha is None else alpha)
    if mode == "L":
        return Image.fromarray(_to_uint8(grayscale_convert(pixels=pixels)))
    if mode == "LA":
        grey = _to_uint8(grayscale_convert(pixels=pixels))
        return Image.fromarray(np.dstack([grey, a]), mode="LA")
    rgb = _to_uint8(_as_rgb(pixels))
    if mode == "RGB":
        return Image.fromarray(rgb)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, a]))
    if mode == "P":
        return Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    if mode == "CMYK":
        return Image.fromarray(rgb).convert("CMYK")
    raise ValueError(f"unsupported mode {mode!r}")


def _save(img: Image.Image, *, fmt: str, exif_orientation: int | None, **params: Any) -> bytes:
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # Orientation tag
        params["exif"] = exif
    buf = BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_bytes(
    *,
    pixels: np.ndarray,
    bits: Literal[8, 16] = 8,
    mode: Literal["L", "RGB", "RGBA", "P", "LA"] = "L",
    exif_orientation: int | None = None,
    alpha: np.ndarray | None = None,
) -> bytes:
    """Encode [0, 1] pixels as PNG; pixels are stored as given, EXIF only tags orientation."""
    img = _pil_image(pixels=pixels, mode=mode, bits=bits, alpha=alpha)
    return _save(img, fmt="PNG", exif_orientation=exif_orientation)


def jpeg_bytes(
    *,
    pixels: np.ndarray,
    mode: Literal["L", "RGB", "CMYK"] = "L",
    quality: int = 90,
    exif_orientation: int | None = None,
) -> bytes:
    """Encode [0, 1] pixels as baseline JPEG."""
    img = _pil_image(pixels=pixels, mode=mode, bits=8, alpha=None)
    return _save(img, fmt="JPEG", exif_orientation=exif_orientation, quality=quality)


def _stored_values(*, pixels: np.ndarray, bits: int, photometric: str) -> np.ndarray:
    """Scale floats to the stored range (integers pass through); MONOCHROME1 stores inverted."""
    top = (1 << bits) - 1
    if np.issubdtype(pixels.dtype, np.integer):
        arr = np.clip(pixels.astype(np.int64), 0, top)
    else:
        arr = np.round(np.clip(pixels, 0.0, 1.0) * top).astype(np.int64)
    if photometric == "MONOCHROME1":
        arr = top - arr
    return arr.astype(np.uint8 if bits == 8 else np.uint16)


def _jpeg_frames(frames: np.ndarray, *, colour: bool) -> list[bytes]:
    out = []
    for frame in frames:
        buf = BytesIO()
        Image.fromarray(frame, mode="RGB" if colour else "L").save(buf, format="JPEG", quality=95)
        out.append(buf.getvalue())
    return out


def _transfer_syntax(*, name: TransferName, bits: int, colour: bool) -> UID:
    if colour and bits != 8:
        raise ValueError("colour DICOM is built with bits=8")
    if name == "jpeg_baseline" and bits != 8:
        raise ValueError("JPEG baseline needs bits=8")
    return {
        "explicit": ExplicitVRLittleEndian,
        "implicit": ImplicitVRLittleEndian,
        "jpeg_baseline": JPEGBaseline8Bit,
        "jpeg2000": JPEG2000Lossless,
        "rle": RLELossless,
    }[name]


def _dataset_build(
    *, modality: str, ts: UID, seed: int, tags: dict[str, Any], patient: dict[str, Any] | None
) -> Dataset:
    """Return a dataset with file meta, UIDs, `tags` and then the `patient` keywords set."""
    uid = lambda name: generate_uid(entropy_srcs=[str(seed), name])  # noqa: E731
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if ts.is_compressed else ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.Modality = modality
    ds.PatientName = ""
    ds.PatientID = ""
    for keyword, value in {**tags, **(patient or {})}.items():
        setattr(ds, keyword, value)
    return ds


def _image_tags(
    *, stored: np.ndarray, bits: int, colour_model: str | None, photometric: str, frames: int
) -> dict[str, Any]:
    tags: dict[str, Any] = {
        "Rows": int(stored.shape[0]),
        "Columns": int(stored.shape[1]),
        "SamplesPerPixel": 3 if colour_model else 1,
        "PhotometricInterpretation": colour_model or photometric,
        "BitsAllocated": 8 if bits == 8 else 16,
        "BitsStored": bits,
        "HighBit": bits - 1,
        "PixelRepresentation": 0,
    }
    if colour_model:
        tags["PlanarConfiguration"] = 0
    if frames > 1:
        tags["NumberOfFrames"] = frames
    return tags


def _pixels_attach(*, ds: Dataset, stack: np.ndarray, ts: UID, colour: bool) -> None:
    """Store the frames uncompressed, as baseline JPEG, or compressed with `ts`."""
    frames = stack if len(stack) > 1 else stack[0]
    ds.PixelData = frames.tobytes()
    if ts == JPEGBaseline8Bit:
        ds.PixelData = encapsulate(_jpeg_frames(stack, colour=colour))
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = ts
        if colour:
            ds.PhotometricInterpretation = "YBR_FULL_422"
    elif ts.is_compressed:
        ds.compress(ts, frames, generate_instance_uid=False)


def _dataset_bytes(*, ds: Dataset, ts: UID, preamble: bool) -> bytes:
    buf = BytesIO()
    if preamble:
        dcmwrite(buf, ds, enforce_file_format=True)
    else:
        # A bare dataset as some old modalities send it: no preamble, no file meta.
        ds.file_meta = FileMetaDataset()
        dcmwrite(buf, ds, implicit_vr=ts == ImplicitVRLittleEndian, little_endian=True)
    return buf.getvalue()


def dicom_bytes(
    *,
    pixels: np.ndarray,
    photometric: Literal["MONOCHROME2", "MONOCHROME1"] = "MONOCHROME2",
    bits: Literal[8, 12, 16] = 16,
    transfer_syntax: TransferName = "explicit",
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    modality: Literal["CR", "DX", "CT", "MR"] = "DX",
    frames: int = 1,
    colour: bool = False,
    colour_model: Literal["RGB", "HSV", "ARGB"] = "RGB",
    with_pixels: bool = True,
    patient: dict[str, Any] | None = None,
    view_position: str = "PA",
    body_part: str = "CHEST",
    preamble: bool = True,
    seed: int = 0,
) -> bytes:
    """Build a real DICOM file around `pixels` (floats in [0, 1] are scaled; ints are stored).

    `pixels` are the display image (white = dense): MONOCHROME1 stores them inverted.
    `patient` sets any keywords (e.g. PatientName) so de-identification can be tested.
    `colour_model` names a colour file's PhotometricInterpretation (baseline JPEG: YBR_FULL_422).
    """
    ts = _transfer_syntax(name=transfer_syntax, bits=bits, colour=colour)
    if colour:
        src = _as_rgb(pixels)
    else:  # integer 2-D pixels are stored values and must keep their dtype
        src = grayscale_convert(pixels=pixels) if pixels.ndim == 3 else pixels
    stored = _stored_values(
        pixels=src, bits=bits, photometric="MONOCHROME2" if colour else photometric
    )
    tags = {"BodyPartExamined": body_part, "ViewPosition": view_position}
    tags |= _image_tags(
        stored=stored,
        bits=bits,
        colour_model=colour_model if colour else None,
        photometric=photometric,
        frames=frames,
    )
    if rescale is not None:
        tags["RescaleSlope"], tags["RescaleIntercept"] = rescale
        tags["RescaleType"] = "HU" if modality == "CT" else "US"
    if window is not None:
        tags["WindowCenter"], tags["WindowWidth"] = window
    ds = _dataset_build(modality=modality, ts=ts, seed=seed, tags=tags, patient=patient)
    if with_pixels:
        stack = np.stack([np.roll(stored, 3 * i, axis=1) for i in range(frames)])
        _pixels_attach(ds=ds, stack=stack, ts=ts, colour=colour)
    return _dataset_bytes(ds=ds, ts=ts, preamble=preamble)
