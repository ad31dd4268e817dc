"""Reading multipart/related bodies (pure parsing)."""

from __future__ import annotations

import pytest

from screening.pacs.client import multipart_body
from screening.pacs.multipart import StowRequestError, boundary_get, parts_split


def test_round_trip_with_the_client_body():
    body, content_type = multipart_body(files=[b"one\r\n--x", b"two"])
    parts = parts_split(body=body, boundary=boundary_get(content_type=content_type))
    assert [p.data for p in parts] == [b"one\r\n--x", b"two"]
    assert {p.content_type for p in parts} == {"application/dicom"}


def test_preamble_quoted_boundary_and_part_without_headers():
    content_type = 'multipart/related; type="application/dicom"; boundary="b 1"'
    body = b"preamble\r\n--b 1\r\n\r\nAAA\r\n--b 1\r\nContent-Type: text/plain\r\n\r\nB\r\n--b 1--"
    parts = parts_split(body=body, boundary=boundary_get(content_type=content_type))
    assert [(p.content_type, p.data) for p in parts] == [
        ("application/dicom", b"AAA"),
        ("text/plain", b"B"),
    ]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("multipart/form-data; boundary=x", 415),
        ('multipart/related; type="image/png"; boundary=x', 415),
        ("multipart/related; type=application/dicom", 400),
        ("", 415),
    ],
)
def test_content_types_refused(content_type, status):
    with pytest.raises(StowRequestError) as caught:
        boundary_get(content_type=content_type)
    assert caught.value.http_status == status


@pytest.mark.parametrize("body", [b"", b"--x\r\nA", b"nothing here", b"--x--"])
def test_malformed_bodies_refused(body):
    with pytest.raises(StowRequestError):
        parts_split(body=body, boundary=b"x")
