"""Decode every supported PNG/JPEG/DICOM flavour and refuse everything else with a typed error."""

from __future__ import annotations

import struct
import time
import zlib
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from mlcore.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    UnsupportedDicomError,
)
from mlcore.imageio import (
    DecodedImage,
    image_decode,
    image_sniff,
    image_thumbnail_png,
    image_to_uint8,
)
from mlcore.testing import arrays, files

SIZE = (96, 128)  # (height, width): non-square so transposes show


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return arrays.chest_like_array(size=SIZE, seed=7)


def _stretched(arr: np.ndarray) -> np.ndarray:
    return (arr - arr.min()) / (arr.max() - arr.min())


def _assert_valid(img: DecodedImage) -> None:
    assert img.pixels.dtype == np.float32
    assert float(img.pixels.min()) >= 0.0 and float(img.pixels.max()) <= 1.0
    assert (img.height, img.width) == img.pixels.shape[:2]


def _marker(size: tuple[int, int] = SIZE) -> np.ndarray:
    """Mid-grey image with a bright block in the top-left corner."""
    arr = np.full(size, 0.3, dtype=np.float32)
    arr[:10, :10] = 1.0
    return arr


# ----------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "jpeg"),
        (b"\0" * 128 + b"DICM" + b"\0" * 20, "dicom"),
        (b"", None),
        (b"hello, this is text pretending to be a PNG", None),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", None),
        (b"PK\x03\x04" + b"\0" * 40, None),
        (b"<!DOCTYPE html><html><body>x.png</body></html>", None),
        (b"\x08\x00" + b"garbage that is not a dataset" * 4, None),
    ],
)
def test_sniff_uses_magic_bytes(data: bytes, expected: str | None) -> None:
    assert image_sniff(data=data) == expected


def test_sniff_accepts_preamble_less_dicom(chest: np.ndarray) -> None:
    data = files.dicom_bytes(pixels=chest, preamble=False, transfer_syntax="implicit")
    assert data[128:132] != b"DICM"
    assert image_sniff(data=data) == "dicom"
    assert image_decode(data=data).pixels.shape == SIZE


# ----------------------------------------------------------------------------- PNG


@pytest.mark.parametrize(
    ("mode", "bits"), [("L", 8), ("L", 16), ("RGB", 8), ("RGBA", 8), ("P", 8), ("LA", 8)]
)
def test_png_modes_decode_to_grey(chest: np.ndarray, mode: str, bits: int) -> None:
    img = image_decode(data=files.png_bytes(pixels=chest, bits=bits, mode=mode))
    _assert_valid(img)
    assert img.format == "png"
    assert img.pixels.shape == SIZE
    assert not img.is_colour
    assert img.bits_stored == bits
    tolerance = 0.03 if mode == "P" else 0.003  # a palette quantises
    assert np.abs(img.pixels - chest).mean() < tolerance


def test_png_16bit_keeps_precision() -> None:
    ramp = arrays.gradient_image(size=(64, 1024))
    img = image_decode(data=files.png_bytes(pixels=ramp, bits=16))
    assert len(np.unique(img.pixels)) > 256  # more levels than 8 bits could hold
    assert np.abs(img.pixels - ramp).max() < 1e-4


def test_png_alpha_composites_on_black(chest: np.ndarray) -> None:
    alpha = np.ones(SIZE, dtype=np.float32)
    alpha[:, : SIZE[1] // 2] = 0.0
    for mode in ("RGBA", "LA"):
        img = image_decode(data=files.png_bytes(pixels=chest, mode=mode, alpha=alpha))
        assert img.pixels[:, : SIZE[1] // 2].max() == 0.0
        assert np.abs(img.pixels[:, SIZE[1] // 2 :] - chest[:, SIZE[1] // 2 :]).max() < 0.003


def test_colour_png_keeps_three_channels() -> None:
    photo = arrays.colour_photo_like_image(size=SIZE, seed=3)
    img = image_decode(data=files.png_bytes(pixels=photo, mode="RGB"))
    assert img.is_colour
    assert img.pixels.shape == (*SIZE, 3)
    assert np.abs(img.pixels - photo).max() < 0.003


def test_palette_colour_png_is_colour() -> None:
    shot = arrays.screenshot_image(size=SIZE, seed=2)
    img = image_decode(data=files.png_bytes(pixels=shot, mode="P"))
    assert img.is_colour and img.pixels.shape == (*SIZE, 3)


@pytest.mark.parametrize("encode", ["png", "jpeg"])
def test_exif_orientation_rotates(encode: str) -> None:
    # Orientation 6: the stored image must be turned 90 degrees clockwise to display.
    stored = _marker()
    if encode == "png":
        data = files.png_bytes(pixels=stored, exif_orientation=6)
    else:
        data = files.jpeg_bytes(pixels=stored, exif_orientation=6, quality=95)
    img = image_decode(data=data)
    assert img.pixels.shape == (SIZE[1], SIZE[0])
    assert (img.width, img.height) == (SIZE[0], SIZE[1])
    assert img.pixels[:8, -8:].mean() > 0.9  # top-left marker is now top-right
    assert img.pixels[:8, :8].mean() < 0.5


def test_exif_orientation_3_turns_upside_down() -> None:
    img = image_decode(data=files.png_bytes(pixels=_marker(), exif_orientation=3))
    assert img.pixels.shape == SIZE
    assert img.pixels[-8:, -8:].mean() > 0.9


# ----------------------------------------------------------------------------- JPEG


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_jpeg_modes_decode(chest: np.ndarray, mode: str) -> None:
    img = image_decode(data=files.jpeg_bytes(pixels=chest, mode=mode, quality=95))
    _assert_valid(img)
    assert img.format == "jpeg"
    assert img.pixels.shape == SIZE
    assert not img.is_colour  # greyscale content stored as RGB or CMYK is still greyscale
    assert np.abs(img.pixels - chest).mean() < 0.02


def test_colour_jpeg_is_colour() -> None:
    photo = arrays.colour_photo_like_image(size=SIZE, seed=5)
    img = image_decode(data=files.jpeg_bytes(pixels=photo, mode="RGB"))
    assert img.is_colour and img.pixels.shape == (*SIZE, 3)


# ----------------------------------------------------------------------------- DICOM


@pytest.mark.parametrize("bits", [8, 12, 16])
@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle", "jpeg2000"])
def test_dicom_lossless_syntaxes_and_depths(chest: np.ndarray, syntax: str, bits: int) -> None:
    img = image_decode(data=files.dicom_bytes(pixels=chest, bits=bits, transfer_syntax=syntax))
    _assert_valid(img)
    assert img.format == "dicom" and not img.is_colour
    assert img.bits_stored == bits
    assert np.abs(img.pixels - _stretched(chest)).max() < 2.0 / (2**bits - 1) + 1e-4
    assert img.dicom["Modality"] == "DX"
    assert img.dicom["ViewPosition"] == "PA"
    assert img.dicom["BodyPartExamined"] == "CHEST"
    assert img.dicom["Rows"] == str(SIZE[0]) and img.dicom["Columns"] == str(SIZE[1])
    assert img.dicom["BitsStored"] == str(bits)


def test_dicom_jpeg_baseline(chest: np.ndarray) -> None:
    data = files.dicom_bytes(pixels=chest, bits=8, transfer_syntax="jpeg_baseline")
    img = image_decode(data=data)
    assert img.dicom["TransferSyntax"] == "JPEG Baseline (Process 1)"
    assert np.abs(img.pixels - _stretched(chest)).mean() < 0.02


def test_dicom_names_syntax_and_sop_class(chest: np.ndarray) -> None:
    img = image_decode(data=files.dicom_bytes(pixels=chest, modality="CR", bits=8))
    assert img.dicom["TransferSyntax"] == "Explicit VR Little Endian"
    assert img.dicom["SOPClass"] == "Computed Radiography Image Storage"
    assert img.dicom["PhotometricInterpretation"] == "MONOCHROME2"


def test_dicom_monochrome1_is_inverted_to_white_dense() -> None:
    display = _marker()  # bright block = dense
    mono1 = files.dicom_bytes(pixels=display, photometric="MONOCHROME1", bits=12)
    mono2 = files.dicom_bytes(pixels=display, photometric="MONOCHROME2", bits=12)
    assert mono1 != mono2  # stored values really are inverted
    for data in (mono1, mono2):
        img = image_decode(data=data)
        assert img.pixels[:10, :10].mean() == pytest.approx(1.0)
        assert img.pixels[50:, 50:].mean() == pytest.approx(0.0)


def test_dicom_modality_lut_then_window() -> None:
    # Stored 0..4095 with intercept -1024: stored 1024 is 0 HU, the window centre.
    stored = np.zeros(SIZE, dtype=np.uint16)
    stored[:, 40:80] = 1024
    stored[:, 80:] = 4095
    data = files.dicom_bytes(
        pixels=stored, bits=12, modality="CT", rescale=(1.0, -1024.0), window=(0.0, 400.0)
    )
    img = image_decode(data=data)
    assert img.dicom["Modality"] == "CT"
    assert img.pixels[:, :40].max() == pytest.approx(0.0)
    assert img.pixels[:, 40:80].mean() == pytest.approx(0.5, abs=0.01)
    assert img.pixels[:, 80:].min() == pytest.approx(1.0)


def test_dicom_negative_slope_is_applied() -> None:
    stored = np.zeros(SIZE, dtype=np.uint16)
    stored[:, 64:] = 1000
    img = image_decode(data=files.dicom_bytes(pixels=stored, bits=12, rescale=(-1.0, 0.0)))
    assert img.pixels[:, :64].min() == 1.0 and img.pixels[:, 64:].max() == 0.0


def test_dicom_window_clips_outside_values() -> None:
    stored = np.tile(np.linspace(0, 4095, SIZE[1]).astype(np.uint16), (SIZE[0], 1))
    img = image_decode(data=files.dicom_bytes(pixels=stored, bits=12, window=(2048, 1024)))
    row = img.pixels[0]
    assert (row[: SIZE[1] // 4 - 2] == 0.0).all()
    assert (row[-SIZE[1] // 4 + 2 :] == 1.0).all()
    assert 0.4 < row[SIZE[1] // 2] < 0.6


@pytest.mark.parametrize(("name", "modality"), [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")])
def test_pydicom_sample_files_decode(name: str, modality: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    with open(path, "rb") as fh:
        img = image_decode(data=fh.read())
    _assert_valid(img)
    assert img.dicom["Modality"] == modality
    assert img.pixels.std() > 0.05


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("MR_small_RLE.dcm", None),
        ("MR_small_jp2klossless.dcm", None),
        ("MR_small_bigendian.dcm", None),
        ("MR_small_implicit.dcm", None),
        ("MR_truncated.dcm", CorruptImageError),
        ("JPEG-lossy.dcm", UnsupportedDicomError),  # 12-bit lossy no local decoder can read
        ("rtplan.dcm", UnsupportedDicomError),
    ],
)
def test_pydicom_sample_files_outcomes(name: str, error: type[ImageError] | None) -> None:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not shipped locally")
    with open(path, "rb") as fh:
        data = fh.read()
    if error is None:
        assert image_decode(data=data).dicom["Modality"] == "MR"
    else:
        with pytest.raises(error):
            image_decode(data=data)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"just some text in a file called scan.png",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 64,
        b"<html><head><title>x.png</title></head><body></body></html>",
        bytes(range(256)) * 4,
    ],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImageError, match="not a PNG, JPEG or DICOM"):
        image_decode(data=data)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_truncated_raster_is_corrupt(chest: np.ndarray, fmt: str) -> None:
    data = (
        files.png_bytes(pixels=chest)
        if fmt == "png"
        else files.jpeg_bytes(pixels=chest, quality=95)
    )
    with pytest.raises(CorruptImageError, match=f"{fmt.upper()} file is truncated"):
        image_decode(data=data[: len(data) // 2])


def test_truncation_detected_even_when_pillow_tolerates_it(
    chest: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for data in (files.png_bytes(pixels=chest), files.jpeg_bytes(pixels=chest)):
        with pytest.raises(CorruptImageError):
            image_decode(data=data[: len(data) // 2])


def test_png_with_bad_crc_is_corrupt(chest: np.ndarray) -> None:
    data = bytearray(files.png_bytes(pixels=chest))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    with pytest.raises(CorruptImageError):
        image_decode(data=bytes(data))


@pytest.mark.parametrize("keep", [400, -2000])  # cut inside a header UID / inside pixel data
def test_truncated_dicom_is_corrupt(chest: np.ndarray, keep: int) -> None:
    data = files.dicom_bytes(pixels=chest)
    with pytest.raises(CorruptImageError, match="DICOM file is truncated"):
        image_decode(data=data[:keep])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def test_decompression_bomb_png_refused_fast() -> None:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=r"100000 x 100000 pixels; the limit is 40"):
        image_decode(data=bomb)
    assert time.perf_counter() - start < 0.5


def test_decompression_bomb_jpeg_refused_by_header() -> None:
    data = bytearray(files.jpeg_bytes(pixels=_marker()))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    with pytest.raises(ImageTooLargeError, match="60000 x 60000"):
        image_decode(data=bytes(data))


def test_max_pixels_is_configurable(chest: np.ndarray) -> None:
    with pytest.raises(ImageTooLargeError, match=r"limit is 0\.01 megapixels"):
        image_decode(data=files.png_bytes(pixels=chest), max_pixels=10_000)


def test_dicom_too_large_before_decoding(chest: np.ndarray) -> None:
    with pytest.raises(ImageTooLargeError):
        image_decode(data=files.dicom_bytes(pixels=chest), max_pixels=1000)


@pytest.mark.parametrize("encode", ["png", "jpeg", "dicom"])
def test_too_small(encode: str) -> None:
    tiny = arrays.tiny_image(size=(20, 20), seed=1)
    data = {
        "png": lambda: files.png_bytes(pixels=tiny),
        "jpeg": lambda: files.jpeg_bytes(pixels=tiny),
        "dicom": lambda: files.dicom_bytes(pixels=tiny),
    }[encode]()
    with pytest.raises(ImageTooSmallError, match="20 x 20 pixels; at least 64 pixels"):
        image_decode(data=data)


def test_extreme_aspect_checks_shorter_side() -> None:
    strip = arrays.extreme_aspect_image(size=(40, 2000), seed=1)
    with pytest.raises(ImageTooSmallError, match="2000 x 40"):
        image_decode(data=files.png_bytes(pixels=strip))


def test_dicom_without_pixel_data(chest: np.ndarray) -> None:
    with pytest.raises(UnsupportedDicomError, match="no pixel data"):
        image_decode(data=files.dicom_bytes(pixels=chest, with_pixels=False))


def test_multiframe_dicom_refused(chest: np.ndarray) -> None:
    with pytest.raises(
        UnsupportedDicomError,
        match=r"Multi-frame DICOM is not supported: this file holds 3 frames \(Modality DX\)",
    ):
        image_decode(data=files.dicom_bytes(pixels=chest, frames=3))


@pytest.mark.parametrize("syntax", ["explicit", "rle", "jpeg_baseline"])
def test_greyscale_stored_as_colour_dicom_decodes_as_greyscale(
    chest: np.ndarray, syntax: str
) -> None:
    img = image_decode(
        data=files.dicom_bytes(pixels=chest, colour=True, bits=8, transfer_syntax=syntax)
    )
    grey = image_decode(data=files.dicom_bytes(pixels=chest, bits=8, transfer_syntax=syntax))
    assert img.format == "dicom" and not img.is_colour and img.pixels.shape == SIZE
    assert img.dicom["PhotometricInterpretation"] in ("RGB", "YBR_FULL_422")
    # Colour values are scaled by bit depth, greyscale by their range: compare the shapes.
    assert np.corrcoef(img.pixels.ravel(), grey.pixels.ravel())[0, 1] > 0.99


def test_real_colour_dicom_stays_colour_for_the_gate() -> None:
    photo = arrays.colour_photo_like_image(size=(120, 140), seed=3)
    img = image_decode(data=files.dicom_bytes(pixels=photo, colour=True, bits=8))
    assert img.is_colour and img.pixels.shape == (120, 140, 3)
    assert np.abs(img.pixels - photo).max() < 1.0 / 255 + 1e-4


def test_pydicom_colour_sample_decodes() -> None:
    path = get_testdata_file("SC_rgb_rle.dcm")
    if path is None:
        pytest.skip("SC_rgb_rle.dcm is not shipped locally")
    with open(path, "rb") as fh:
        img = image_decode(data=fh.read())
    assert img.is_colour and img.pixels.shape == (100, 100, 3)


@pytest.mark.parametrize("model", ["HSV", "ARGB"])
def test_other_colour_models_refused_by_name(chest: np.ndarray, model: str) -> None:
    data = files.dicom_bytes(pixels=chest, colour=True, bits=8, colour_model=model)
    with pytest.raises(UnsupportedDicomError, match=f"stores its pixels as {model} \\(3 per"):
        image_decode(data=data)


def test_broken_compressed_dicom_is_unsupported(chest: np.ndarray) -> None:
    data = bytearray(files.dicom_bytes(pixels=chest, transfer_syntax="jpeg2000"))
    # Keep lengths intact but scramble the codestream so only the decoder can notice.
    start = data.index(b"\xff\x4f\xff\x51")
    data[start : start + 200] = bytes(200)
    with pytest.raises(UnsupportedDicomError, match="could not be decoded"):
        image_decode(data=bytes(data))


def test_errors_carry_codes() -> None:
    with pytest.raises(ImageError) as info:
        image_decode(data=b"")
    assert info.value.code == "not_an_image"
    assert info.value.message == "The file is not a PNG, JPEG or DICOM image."


# ----------------------------------------------------------------------------- helpers


def test_image_to_uint8_clips_and_rounds() -> None:
    out = image_to_uint8(pixels=np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], dtype=np.float32))
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255, 0]


@pytest.mark.parametrize("colour", [False, True])
def test_thumbnail_png(colour: bool) -> None:
    pixels = (
        arrays.colour_photo_like_image(size=(300, 600), seed=1)
        if colour
        else arrays.chest_like_array(size=(300, 600), seed=1)
    )
    decoded = image_decode(data=files.png_bytes(pixels=pixels, mode="RGB"))
    thumb = Image.open(BytesIO(image_thumbnail_png(image=decoded, size=128)))
    assert thumb.format == "PNG"
    assert thumb.size == (128, 64)
    assert thumb.mode == ("RGB" if colour else "L")


@pytest.mark.parametrize(("size", "colour"), [((700, 1024), False), ((2000, 300), True)])
def test_thumbnail_jpeg_keeps_aspect_and_fits(size: tuple[int, int], colour: bool) -> None:
    from mlcore.imageio import image_thumbnail_jpeg

    make = arrays.colour_photo_like_image if colour else arrays.chest_like_array
    decoded = image_decode(data=files.png_bytes(pixels=make(size=size, seed=1), mode="RGB"))
    thumb = Image.open(BytesIO(image_thumbnail_jpeg(image=decoded, size=128)))
    assert thumb.format == "JPEG" and thumb.mode == ("RGB" if colour else "L")
    height, width = size
    assert max(thumb.size) == 128
    assert abs(thumb.size[0] / thumb.size[1] - width / height) < 0.05
