"""STOW-RS bodies sent with Transfer-Encoding: chunked (Orthanc's default) or a Content-Length,
through the web server `make demo` runs (scripts/demo-web.sh, gunicorn as in production); the
size limit holds while a chunked body is read."""

from __future__ import annotations

import pytest
import requests

from screening.models import Image, Study
from screening.pacs.client import multipart_body
from tests.pacs.conftest import chest_dicom

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LIMIT = 300_000  # bytes: one film (about 132 kB) fits, three do not


def chunks(body: bytes, size: int = 16_384):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def stow(url: str, token: str, files: list[bytes], *, chunked: bool) -> requests.Response:
    body, content_type = multipart_body(files=files)
    headers = {"Authorization": f"Token {token}", "Content-Type": content_type}
    data = chunks(body) if chunked else body  # a generator makes requests send chunks
    return requests.post(f"{url}/dicomweb/studies", data=data, headers=headers, timeout=60)


def test_chunked_and_content_length_bodies_on_the_demo_server(web_server, pacs_token):
    web = web_server(workers=1, threads=2, demo=True, CXR_PACS_MAX_REQUEST_BYTES=str(LIMIT))

    response = stow(web.url, pacs_token, [chest_dicom(seed=51)], chunked=True)
    assert response.status_code == 200, (response.text, web.log())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert Image.objects.count() == 1

    response = stow(web.url, pacs_token, [chest_dicom(seed=52)], chunked=False)
    assert response.status_code == 200 and "Content-Length" in response.request.headers
    assert Image.objects.count() == 2

    films = [chest_dicom(seed=seed) for seed in (53, 54, 55)]
    assert sum(map(len, films)) > LIMIT
    response = stow(web.url, pacs_token, films, chunked=True)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]
    response = stow(web.url, pacs_token, films, chunked=False)
    assert response.status_code == 413
    assert Image.objects.count() == 2 and Study.objects.count() == 2
