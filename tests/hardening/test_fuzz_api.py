"""Fuzz the API from its own OpenAPI schema (schemathesis 4 CLI against a live server).

Checks: no 5xx (not_a_server_error) and every documented response matches the schema
(response_schema_conformance, content_type_conformance).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from screening.models import Prediction
from screening.services import prediction_execute, study_submit
from tests.support.images import png_upload

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ST = Path(sys.executable).with_name("st")
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def _run_schemathesis(*, base: str, token: str, tmp_path: Path, max_examples: int) -> str:
    command = [
        str(ST), "run", f"{base}/api/v1/schema/?format=json",
        "--url", base,
        "--checks", CHECKS,
        "--max-examples", str(max_examples),
        "--header", f"Authorization: Token {token}",
        "--generation-deterministic",
        "--request-timeout", "20",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    # cwd: schemathesis keeps a .schemathesis/ cache in its working folder, not in the repo.
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    return output


def test_api_fuzz_finds_no_server_error_and_no_schema_violation(
    web_server, clinician, fake_screener, enqueued, tmp_path
):
    # Some real data so ids in responses and list pages are non-trivial.
    study = study_submit(owner=clinician, files=[png_upload(seed=1), png_upload(seed=2)])
    for prediction in Prediction.objects.filter(image__study=study)[:1]:
        prediction_execute(prediction_id=prediction.id)
    token = Token.objects.create(user=clinician).key
    server = web_server(workers=2, threads=2)
    _run_schemathesis(base=server.url, token=token, tmp_path=tmp_path, max_examples=25)
    assert server.process.poll() is None, server.log()
    assert "Traceback" not in server.log(), server.log()
