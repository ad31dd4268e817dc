"""Bad input through the web form AND the API: a clear 400 naming the problem, nothing stored."""

from __future__ import annotations

import html
import io
import struct
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from screening.models import Image, Study
from tests.support.api import api_client_for
from tests.support.images import dicom_data, jpeg_data, png_data

pytestmark = pytest.mark.django_db

STUDIES_API = "/api/v1/studies/"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(*, side: int = 100_000) -> bytes:
    """A few hundred bytes of PNG that declares side x side pixels (10 gigapixels)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (side + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("x.png", png_data())
    return buf.getvalue()


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


# name, bytes factory, content type claimed by the client, words the message must contain
BAD_FILES = {
    "text": ("notes.png", lambda: b"just some text\n" * 20, "image/png", ["not a PNG"]),
    "pdf": ("report.png", lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n" * 5, "image/png",
            ["not a PNG"]),
    "zip": ("archive.png", zip_bytes, "image/png", ["not a PNG"]),
    "html": ("page.png", lambda: b"<!doctype html><script>alert(1)</script>" * 5, "image/png",
             ["not a PNG"]),
    "empty": ("empty.png", lambda: b"", "image/png", ["empty"]),
    "truncated_png": ("cut.png", lambda: _truncated(png_data()), "image/png", []),
    "truncated_jpeg": ("cut.jpg", lambda: _truncated(jpeg_data()), "image/jpeg", []),
    "bomb": ("bomb.png", png_bomb, "image/png", []),
    "dicom_no_pixels": ("nopix.dcm", lambda: dicom_data(with_pixels=False),
                        "application/dicom", []),
    "dicom_multiframe": ("cine.dcm", lambda: dicom_data(frames=3), "application/dicom", []),
    "dicom_colour": ("colour.dcm", lambda: dicom_data(colour=True, bits=8, colour_model="HSV"),
                     "application/dicom", []),
}  # fmt: skip
EXPECTED_CODES = {
    "text": "not_an_image", "pdf": "not_an_image", "zip": "not_an_image",
    "html": "not_an_image", "empty": "empty", "truncated_png": "corrupt_image",
    "truncated_jpeg": "corrupt_image", "bomb": "image_too_large",
    "dicom_no_pixels": "unsupported_dicom", "dicom_multiframe": "unsupported_dicom",
    "dicom_colour": "unsupported_dicom",
}  # fmt: skip


def _file(case: str) -> SimpleUploadedFile:
    name, make, content_type, _ = BAD_FILES[case]
    return SimpleUploadedFile(name, make(), content_type=content_type)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_via_api_is_400_naming_it_and_stores_nothing(case, clinician, nothing_stored):
    name, _, _, words = BAD_FILES[case]
    client = api_client_for(clinician)
    with nothing_stored():
        response = client.post(
            STUDIES_API, {"images": [_file(case)], "reference": "ok-ref"}, format="multipart"
        )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == EXPECTED_CODES[case], body
    assert body["filename"] == name and name in body["detail"], body
    for word in words:
        assert word in body["detail"], body


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_via_web_form_is_400_naming_it_and_stores_nothing(
    case, client, clinician, nothing_stored
):
    name, _, _, words = BAD_FILES[case]
    client.force_login(clinician)
    with nothing_stored():
        response = client.post(
            reverse("screening:study_create"), {"files": [_file(case)], "reference": "ok-ref"}
        )
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert name in page, page[:2000]
    for word in words:
        assert word in page


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_with_good_files_stores_nothing(case, clinician, nothing_stored):
    """All-or-nothing: one bad file among good ones refuses the whole study."""
    client = api_client_for(clinician)
    good = [SimpleUploadedFile(f"ok{i}.png", png_data(seed=i)) for i in range(2)]
    with nothing_stored():
        response = client.post(STUDIES_API, {"images": [*good, _file(case)]}, format="multipart")
    assert response.status_code == 400


def test_over_size_and_too_many_files_both_ways(client, clinician, settings, nothing_stored):
    settings.CXR_MAX_UPLOAD_BYTES = 2000
    settings.CXR_MAX_FILES_PER_STUDY = 2
    big = lambda: SimpleUploadedFile("big.png", png_data(seed=1))  # noqa: E731  (> 2000 bytes)
    small = lambda i: SimpleUploadedFile(f"s{i}.png", png_data(seed=i, size=(64, 64)))  # noqa: E731
    api = api_client_for(clinician)
    client.force_login(clinician)
    with nothing_stored():
        r = api.post(STUDIES_API, {"images": [big()]}, format="multipart")
        assert r.status_code == 400 and r.json()["code"] == "too_large", r.json()
        assert "big.png" in r.json()["detail"] and "limit" in r.json()["detail"]
        r = client.post(reverse("screening:study_create"), {"files": [big()]})
        assert r.status_code == 400 and "big.png" in html.unescape(r.content.decode())
        settings.CXR_MAX_UPLOAD_BYTES = 10_000_000
        r = api.post(STUDIES_API, {"images": [small(i) for i in range(3)]}, format="multipart")
        assert r.status_code == 400 and r.json()["code"] == "too_many_files", r.json()
        r = client.post(reverse("screening:study_create"), {"files": [small(i) for i in range(3)]})
        assert r.status_code == 400 and "Too many files" in html.unescape(r.content.decode())


HOSTILE_NAMES = [
    "../../etc/passwd.png",
    "/etc/passwd.png",
    "..\\..\\windows\\system32\\evil.png",
    "C:\\Users\\x\\evil.png",
    "gpj.\u202eevil.png",  # RTL override: would display as "evil.gnp.jpg"-like
    "nul\x00byte.png",
    "\U0001f9e8emoji\U0001f480.png",
    ("a" * 300) + ".png",
    "\x1b[31mred.png",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("via", ["api", "web"])
def test_hostile_file_names_never_reach_storage_or_the_page(name, via, client, clinician, enqueued):
    upload = SimpleUploadedFile(name, png_data(seed=7), content_type="image/png")
    if via == "api":
        response = api_client_for(clinician).post(
            STUDIES_API, {"images": [upload]}, format="multipart"
        )
        assert response.status_code == 201, response.content
    else:
        client.force_login(clinician)
        response = client.post(reverse("screening:study_create"), {"files": [upload]})
        assert response.status_code == 302, response.content[:2000]
    image = Image.objects.get()
    study = Study.objects.get()
    # Stored names derive from ids only.
    assert image.file.name == f"studies/{study.pk}/{image.pk}.png"
    assert image.thumbnail.name == f"studies/{study.pk}/{image.pk}-thumb.jpg"
    shown = image.original_name
    for bad in ("/", "\\", "\x00", "\u202e", "\x1b", ".."):
        assert bad not in shown.replace("...", ""), repr(shown)
    assert 0 < len(shown) <= 200 and shown.endswith(".png"), repr(shown)
    client.force_login(clinician)
    page = client.get(reverse("screening:study_detail", args=[study.pk])).content.decode()
    assert "\u202e" not in page and "\x00" not in page and "../" not in page
