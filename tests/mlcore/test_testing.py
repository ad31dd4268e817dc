"""Synthetic generators are deterministic, in range, and produce real decodable files."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image

from mlcore.imageio import image_decode, image_sniff
from mlcore.testing import arrays, files

SIZE = (128, 96)


def _in_unit_range(arr: np.ndarray) -> bool:
    return arr.dtype == np.float32 and float(arr.min()) >= 0.0 and float(arr.max()) <= 1.0


def test_chest_like_is_deterministic_and_plausible() -> None:
    a = arrays.chest_like_array(size=(256, 256), seed=3)
    assert np.array_equal(a, arrays.chest_like_array(size=(256, 256), seed=3))
    assert not np.array_equal(a, arrays.chest_like_array(size=(256, 256), seed=4))
    assert a.shape == (256, 256) and _in_unit_range(a)
    lung = a[100:140, 40:80].mean()  # left lung field
    spine = a[100:140, 124:132].mean()
    outside = a[:8, :8].mean()
    assert outside < lung < spine


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("document", lambda: arrays.document_image(size=SIZE, seed=1)),
        ("screenshot", lambda: arrays.screenshot_image(size=SIZE, seed=1)),
        ("blank", lambda: arrays.blank_image(size=SIZE, level=0.7)),
        ("uniform", lambda: arrays.noise_image(size=SIZE, seed=1, kind="uniform")),
        ("gaussian", lambda: arrays.noise_image(size=SIZE, seed=1, kind="gaussian")),
        ("salt_pepper", lambda: arrays.noise_image(size=SIZE, seed=1, kind="salt_pepper")),
        ("gradient", lambda: arrays.gradient_image(size=SIZE, direction="radial")),
        ("checkerboard", lambda: arrays.checkerboard_image(size=SIZE, square=8)),
        ("colour_photo", lambda: arrays.colour_photo_like_image(size=SIZE, seed=1)),
    ],
)
def test_negative_images_shape_and_range(kind: str, make) -> None:
    arr = make()
    assert arr.shape[:2] == SIZE and _in_unit_range(arr)
    assert np.array_equal(arr, make())  # deterministic
    if kind in ("screenshot", "colour_photo"):
        assert arr.ndim == 3 and arr.shape[2] == 3
    if kind == "blank":
        assert float(np.ptp(arr)) == 0.0
    if kind == "document":
        assert float(np.median(arr)) > 0.85 and float(arr.min()) < 0.3  # white page, dark ink


def test_tiny_and_extreme_aspect_sizes() -> None:
    assert arrays.tiny_image(seed=0).shape == (16, 16)
    assert arrays.extreme_aspect_image(seed=0).shape == (100, 2000)


def test_negative_samples_mix() -> None:
    samples = arrays.negative_samples(n=24, seed=5, size=(64, 64))
    assert len(samples) == 24
    kinds = {k for k, _ in samples}
    assert {"document", "screenshot", "blank", "checkerboard", "colour_photo"} <= kinds
    assert all(_in_unit_range(a) for _, a in samples)
    again = arrays.negative_samples(n=24, seed=5, size=(64, 64))
    assert all(
        k1 == k2 and np.array_equal(a1, a2)
        for (k1, a1), (k2, a2) in zip(samples, again, strict=True)
    )


@pytest.mark.parametrize(
    ("mode", "bits", "pil_mode"),
    [
        ("L", 8, "L"),
        ("L", 16, "I;16"),
        ("RGB", 8, "RGB"),
        ("RGBA", 8, "RGBA"),
        ("P", 8, "P"),
        ("LA", 8, "LA"),
    ],
)
def test_png_bytes_modes(mode: str, bits: int, pil_mode: str) -> None:
    data = files.png_bytes(pixels=arrays.gradient_image(size=SIZE), mode=mode, bits=bits)
    img = Image.open(BytesIO(data))
    assert img.format == "PNG" and img.size == (SIZE[1], SIZE[0])
    assert img.mode.startswith(pil_mode[:3]) if bits == 16 else img.mode == pil_mode


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_jpeg_bytes_modes_and_exif(mode: str) -> None:
    data = files.jpeg_bytes(pixels=arrays.gradient_image(size=SIZE), mode=mode, exif_orientation=8)
    img = Image.open(BytesIO(data))
    assert img.format == "JPEG" and img.mode == mode
    assert img.getexif()[0x0112] == 8
    assert image_sniff(data=data) == "jpeg"


def test_png_bytes_rejects_16bit_colour() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        files.png_bytes(pixels=arrays.gradient_image(size=SIZE), mode="RGB", bits=16)


@pytest.mark.parametrize(
    ("syntax", "uid"),
    [
        ("explicit", pydicom.uid.ExplicitVRLittleEndian),
        ("implicit", pydicom.uid.ImplicitVRLittleEndian),
        ("jpeg_baseline", pydicom.uid.JPEGBaseline8Bit),
        ("jpeg2000", pydicom.uid.JPEG2000Lossless),
        ("rle", pydicom.uid.RLELossless),
    ],
)
def test_dicom_bytes_syntaxes_decode(syntax: str, uid: str) -> None:
    pixels = arrays.chest_like_array(size=SIZE, seed=2)
    data = files.dicom_bytes(pixels=pixels, bits=8, transfer_syntax=syntax, modality="CR")
    ds = pydicom.dcmread(BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == uid
    assert ds.SOPClassUID == pydicom.uid.ComputedRadiographyImageStorage
    assert ds.pixel_array.shape == SIZE
    assert data == files.dicom_bytes(
        pixels=pixels, bits=8, transfer_syntax=syntax, modality="CR"
    )  # deterministic, UIDs included


def test_dicom_bytes_options() -> None:
    pixels = arrays.chest_like_array(size=SIZE, seed=2)
    ds = pydicom.dcmread(
        BytesIO(
            files.dicom_bytes(
                pixels=pixels,
                bits=12,
                modality="CT",
                rescale=(2.0, -1024.0),
                window=(40.0, 400.0),
                photometric="MONOCHROME1",
                patient={"PatientName": "DOE^JANE", "PatientID": "X1"},
            )
        )
    )
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (2.0, -1024.0)
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert str(ds.PatientName) == "DOE^JANE" and ds.Modality == "CT"
    assert int(ds.pixel_array.max()) <= 4095
    multi = pydicom.dcmread(BytesIO(files.dicom_bytes(pixels=pixels, frames=2)))
    assert multi.NumberOfFrames == 2 and multi.pixel_array.shape == (2, *SIZE)
    colour = pydicom.dcmread(BytesIO(files.dicom_bytes(pixels=pixels, colour=True, bits=8)))
    assert colour.pixel_array.shape == (*SIZE, 3)
    bare = pydicom.dcmread(BytesIO(files.dicom_bytes(pixels=pixels, with_pixels=False)))
    assert "PixelData" not in bare


def test_dicom_bytes_rejects_impossible_combinations() -> None:
    pixels = arrays.chest_like_array(size=SIZE, seed=2)
    with pytest.raises(ValueError, match="JPEG baseline"):
        files.dicom_bytes(pixels=pixels, bits=16, transfer_syntax="jpeg_baseline")
    with pytest.raises(ValueError, match="colour"):
        files.dicom_bytes(pixels=pixels, bits=16, colour=True)


def test_every_generated_negative_decodes_as_image() -> None:
    for kind, arr in arrays.negative_samples(n=10, seed=1, size=(80, 80)):
        data = files.png_bytes(pixels=arr, mode="RGB" if arr.ndim == 3 else "L")
        decoded = image_decode(data=data, min_side=8)
        assert decoded.pixels.shape[:2] == arr.shape[:2], kind
