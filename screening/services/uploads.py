"""Check one upload from its content: size, format, decoding, DICOM de-identification."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from django.conf import settings

from mlcore.errors import ImageError
from screening.services.errors import SubmissionError
from screening.services.text import filename_sanitise

THUMBNAIL_SIZE = 256
DICOM_IDENTIFIER_KEYWORDS = ("PatientID", "AccessionNumber", "PatientName", "OtherPatientIDs")


@dataclass
class CheckedUpload:
    """One validated upload, ready to store."""

    name: str
    data: bytes
    format: str
    width: int
    height: int
    thumbnail: bytes  # JPEG
    dicom_attributes: dict
    identifiers: frozenset[str] = frozenset()
    received_sha256: str = ""  # of the bytes as sent, before de-identification


def upload_check(*, upload: Any) -> CheckedUpload:
    """Validate one upload from its content (never its name or content type)."""
    from mlcore.imageio import image_decode, image_sniff, image_thumbnail_jpeg

    name = filename_sanitise(name=getattr(upload, "name", "") or "")
    data = upload_read(upload=upload, name=name, limit=settings.CXR_MAX_UPLOAD_BYTES)
    received_sha256 = hashlib.sha256(data).hexdigest()
    if image_sniff(data=data) is None:
        raise SubmissionError(
            f'"{name}": the file is not a PNG, JPEG or DICOM image.',
            code="not_an_image",
            filename=name,
        )
    attributes: dict = {}
    identifiers: frozenset[str] = frozenset()
    try:
        decoded = image_decode(
            data=data, max_pixels=settings.CXR_MAX_PIXELS, min_side=settings.CXR_MIN_SIDE
        )
        if decoded.format == "dicom":
            from mlcore.deid import dicom_deidentify

            identifiers = dicom_identifiers(data=data)
            # Only the de-identified file is ever written anywhere.
            deidentified = dicom_deidentify(data=data)
            data, attributes = deidentified.data, dict(deidentified.attributes)
        thumbnail = image_thumbnail_jpeg(image=decoded, size=THUMBNAIL_SIZE)
    except ImageError as exc:
        raise SubmissionError(f'"{name}": {exc.message}', code=exc.code, filename=name) from exc
    return CheckedUpload(
        name=name,
        data=data,
        format=decoded.format,
        width=int(decoded.width),
        height=int(decoded.height),
        thumbnail=thumbnail,
        dicom_attributes=attributes,
        identifiers=identifiers,
        received_sha256=received_sha256,
    )


def upload_read(*, upload: Any, name: str, limit: int) -> bytes:
    """Read at most `limit` bytes of `upload`; raise SubmissionError if empty or larger."""
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _too_big(name=name, size=size, limit=limit)
    if hasattr(upload, "seek"):
        upload.seek(0)
    chunks, total = [], 0
    reader = (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b"")
    )
    for chunk in reader:
        total += len(chunk)
        if total > limit:  # a lying .size must not make us buffer an unlimited body
            raise _too_big(name=name, size=total, limit=limit)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise SubmissionError(f'"{name}": the file is empty.', code="empty", filename=name)
    return data


def _too_big(*, name: str, size: int, limit: int) -> SubmissionError:
    return SubmissionError(
        f'"{name}": the file is larger than the limit of {limit / (1024 * 1024):g} MB.',
        code="too_large",
        filename=name,
    )


def dicom_identifiers(*, data: bytes) -> frozenset[str]:
    """Return the file's patient identifiers (lower case), to keep them out of the reference."""
    from pydicom import dcmread

    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        values = [ds.get(keyword) for keyword in DICOM_IDENTIFIER_KEYWORDS]
    except Exception:  # decoding already succeeded; identifiers are a best-effort check
        return frozenset()
    found = set()
    for value in values:
        for item in value if isinstance(value, list | tuple) else [value]:
            text = str(item or "").strip().lower()
            if text:
                found.add(text)
    return frozenset(found)
