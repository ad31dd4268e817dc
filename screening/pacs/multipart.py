"""Read a STOW-RS request body: multipart/related parts of application/dicom (PS3.18 8.6).

Pure parsing, no database: every malformed request becomes a StowRequestError with an HTTP
status (4xx) and a readable message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.http import parse_header_parameters

DICOM_TYPE = "application/dicom"
READ_CHUNK = 1 << 20


class StowRequestError(Exception):
    """A request that cannot be read as STOW-RS; nothing was stored."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = status


@dataclass(frozen=True)
class Part:
    content_type: str
    data: bytes


def boundary_get(*, content_type: str) -> bytes:
    """Return the boundary of a multipart/related; type="application/dicom" content type."""
    main, params = parse_header_parameters(content_type or "")
    if main.lower() != "multipart/related":
        raise StowRequestError(
            'Send multipart/related; type="application/dicom" (DICOM PS3.18 STOW-RS).', status=415
        )
    kind = params.get("type", DICOM_TYPE).strip('"').lower()
    if kind != DICOM_TYPE:
        raise StowRequestError(f"Only type={DICOM_TYPE} is accepted, not {kind!r}.", status=415)
    boundary = params.get("boundary", "").strip('"')
    if not boundary or len(boundary) > 200:
        raise StowRequestError("The multipart/related content type has no valid boundary.")
    return boundary.encode("latin-1", "replace")


def body_read(*, request: Any, limit: int) -> bytes:
    """Read the request body (Content-Length or chunked); refuse more than `limit` bytes."""
    length = request.META.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length.isdigit() and int(length) > limit:
        raise StowRequestError(f"The request is larger than {limit} bytes.", status=413)
    # Django reads at most Content-Length bytes (none when chunked); the server de-chunks
    # wsgi.input itself (gunicorn, the demo's and production's server).
    stream = request.META["wsgi.input"] if chunked and not length else request
    chunks, total = [], 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise StowRequestError(f"The request is larger than {limit} bytes.", status=413)
        chunks.append(chunk)
    if not total:
        raise StowRequestError("The request body is empty.")
    return b"".join(chunks)


def _headers_parse(*, block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def parts_split(*, body: bytes, boundary: bytes) -> list[Part]:
    """Split `body` into its parts; raise StowRequestError when it is not well formed."""
    delimiter = b"--" + boundary
    position = body.find(delimiter)
    if position < 0:
        raise StowRequestError("The body does not contain the multipart boundary.")
    position += len(delimiter)
    parts: list[Part] = []
    while body[position : position + 2] != b"--":
        line_end = body.find(b"\r\n", position)
        end = body.find(b"\r\n" + delimiter, position)
        if line_end < 0 or end < 0:
            raise StowRequestError("The multipart body is truncated (no closing boundary).")
        part = body[line_end + 2 : end]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            if not part.startswith(b"\r\n"):
                raise StowRequestError("A multipart part has no header/body separator.")
            head, data = b"", part[2:]
        headers = _headers_parse(block=head)
        parts.append(Part(content_type=headers.get("content-type", DICOM_TYPE), data=data))
        position = end + 2 + len(delimiter)
    if not parts:
        raise StowRequestError("The multipart body holds no instance.")
    return parts
