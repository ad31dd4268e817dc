"""Requests past Django's own upload limits get a clear 400 naming the problem, web and API."""

from __future__ import annotations

import html

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.hardening.test_bad_input import STUDIES_API, api_client_for, png_data


def small(i: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"s{i}.png", png_data(seed=i, size=(64, 64)))


def test_past_djangos_file_count_limit_web(client, clinician, settings, nothing_stored):
    settings.CXR_MAX_FILES_PER_STUDY = 2
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    client.force_login(clinician)
    with nothing_stored():
        r = client.post(reverse("screening:study_create"), {"files": [small(i) for i in range(5)]})
    body = html.unescape(r.content.decode())
    assert r.status_code == 400
    assert "Too many files" in body and "at most 2" in body
    assert "not a diagnostic device" in body.lower()  # the site's own page, not a bare error


def test_past_djangos_file_count_limit_api(clinician, settings, nothing_stored):
    settings.CXR_MAX_FILES_PER_STUDY = 2
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    with nothing_stored():
        r = api_client_for(clinician).post(
            STUDIES_API, {"images": [small(i) for i in range(5)]}, format="multipart"
        )
    assert r.status_code == 400
    assert r.json()["code"] == "too_many_files" and "at most 2" in r.json()["detail"], r.json()
