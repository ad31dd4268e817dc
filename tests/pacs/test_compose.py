"""docker-compose.yml runs Orthanc (DICOMweb and DIMSE) and the portal's DICOM listener, wired
both ways (no Docker engine here)."""

from __future__ import annotations

import json
import os
import subprocess

import yaml

from tests.support.services import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ORTHANC_DIR = REPO_ROOT / "deploy" / "orthanc"


def test_orthanc_service_is_built_from_debian_packages_with_a_healthcheck():
    orthanc = SERVICES["orthanc"]
    assert (REPO_ROOT / orthanc["build"] / "Dockerfile").is_file()
    dockerfile = (ORTHANC_DIR / "Dockerfile").read_text()
    assert "orthanc-dicomweb" in dockerfile and "FROM debian:12" in dockerfile
    assert orthanc["healthcheck"]["test"] and "orthancdata" in COMPOSE["volumes"]


def test_portal_sends_results_to_orthanc_and_orthanc_sends_studies_to_the_portal():
    for service in ("web", "worker"):
        env = SERVICES[service]["environment"]
        assert env["CXR_PACS_DICOMWEB_URL"] == "http://orthanc:8042/dicom-web"
        assert "web" in env["ALLOWED_HOSTS"]
        # Orthanc reaches the web replicas through the balancer, which passes its Host on.
        assert ",lb" in env["ALLOWED_HOSTS"]
    assert SERVICES["orthanc"]["environment"]["CXR_PORTAL_DICOMWEB_URL"].startswith(
        "http://lb:8000/dicomweb/"
    )


def test_entrypoint_writes_a_valid_config_with_the_token(tmp_path):
    fake = tmp_path / "Orthanc"
    fake.write_text('#!/bin/sh\ncat "$1"\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tmp_path}:{os.environ['PATH']}",
        "ORTHANC_PASSWORD": "secret-pw",
        "CXR_PACS_TOKEN": "tok123",
    }
    script = (ORTHANC_DIR / "entrypoint.sh").read_text()
    script = script.replace("/etc/cxr-orthanc/orthanc.json.in", str(ORTHANC_DIR / "orthanc.json"))
    script = script.replace("/tmp/orthanc.json", str(tmp_path / "orthanc.json"))
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    config = json.loads(out.stdout)
    server = config["DicomWeb"]["Servers"]["cxrscreen"]
    assert server["Url"] == "http://web:8000/dicomweb/"
    assert server["HttpHeaders"]["Authorization"] == "Token tok123"
    assert "ChunkedTransfers" not in server  # Orthanc's default (chunked) works
    assert config["RegisteredUsers"] == {"orthanc": "secret-pw"}
    modality = config["DicomModalities"]["cxrscreen"]
    assert modality == {"AET": "CXRSCREEN", "Host": "dicom", "Port": 11112}


def test_the_dicom_listener_runs_beside_web():
    dicom = SERVICES["dicom"]
    assert dicom["command"] == ["python", "manage.py", "dicom_listener"]
    assert dicom["environment"]["CXR_DICOM_PORT"] == "11112" and "11112:11112" in dicom["ports"]
    assert dicom["environment"]["DATABASE_URL"] == SERVICES["web"]["environment"]["DATABASE_URL"]
