"""Run a real Orthanc with its DICOMweb plugin on a free loopback port (Debian's packages).

`orthanc_running(...)` writes a temporary configuration and storage folder, starts Orthanc and
yields an OrthancServer whose REST API the tests drive; `stop()` and `start()` take it down
and bring it back on the same port and storage (the "PACS is down" fault).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ORTHANC = os.environ.get("CXR_ORTHANC", "/usr/sbin/Orthanc")
PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)


def orthanc_binary() -> str | None:
    """Return the Orthanc executable, or None when it is not installed."""
    return ORTHANC if Path(ORTHANC).is_file() else shutil.which("Orthanc")


def dicomweb_plugin() -> str | None:
    """Return the DICOMweb plugin's shared library, or None when it is not installed."""
    for candidate in PLUGIN_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = sorted(Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*"))
    return str(found[0]) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OrthancServer:
    AE_TITLE = "ORTHANC"

    def __init__(self, *, folder: Path, servers: dict[str, dict]) -> None:
        self.folder, self.port, self.dicom_port = folder, free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb_url = f"{self.url}/dicom-web"
        self.log_path = folder / "orthanc.log"
        self.config_path = folder / "orthanc.json"
        self.config_path.write_text(json.dumps(self._config(servers=servers), indent=2))
        self.process: subprocess.Popen | None = None

    def _config(self, *, servers: dict[str, dict]) -> dict:
        storage = str(self.folder / "storage")
        return {
            "Name": "cxrscreen-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": self.port,
            "DicomServerEnabled": True,
            "DicomAet": self.AE_TITLE,
            "DicomPort": self.dicom_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpTimeout": 120,
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": servers},
        }

    def start(self, *, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [orthanc_binary(), str(self.config_path)], cwd=self.folder, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if requests.get(f"{self.url}/system", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"Orthanc did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    # ------------------------------------------------------------------ REST helpers

    def instance_upload(self, data: bytes) -> dict:
        """Store one DICOM file; return Orthanc's answer (ID, ParentStudy, ...)."""
        response = requests.post(f"{self.url}/instances", data=data, timeout=30)
        response.raise_for_status()
        return response.json()

    def stow_send(self, *, server: str, resources: list[str]) -> requests.Response:
        """Send resources to a DICOMweb server with Orthanc's own STOW-RS client."""
        body = {"Resources": resources, "Synchronous": True}
        return requests.post(f"{self.url}/dicom-web/servers/{server}/stow", json=body, timeout=120)

    def study_instances(self, study_id: str) -> list[dict]:
        response = requests.get(f"{self.url}/studies/{study_id}/instances", timeout=30)
        response.raise_for_status()
        return response.json()

    def instance_file(self, instance_id: str) -> bytes:
        response = requests.get(f"{self.url}/instances/{instance_id}/file", timeout=30)
        response.raise_for_status()
        return response.content

    def studies(self) -> list[str]:
        return requests.get(f"{self.url}/studies", timeout=30).json()

    def studies_clear(self) -> None:
        """Delete every study (a module's tests share one Orthanc)."""
        for study_id in self.studies():
            requests.delete(f"{self.url}/studies/{study_id}", timeout=30).raise_for_status()

    def server_put(self, *, name: str, url: str, headers: dict[str, str]) -> None:
        """Point Orthanc's DICOMweb server `name` at `url` (its default chunked transfers)."""
        body = {"Url": url, "HttpHeaders": headers}
        requests.put(
            f"{self.url}/dicom-web/servers/{name}", json=body, timeout=30
        ).raise_for_status()

    def modality_put(self, *, name: str, ae_title: str, port: int) -> None:
        """Declare a DICOM modality (AE title on 127.0.0.1:port) Orthanc may talk to."""
        body = {"AET": ae_title, "Host": "127.0.0.1", "Port": port}
        requests.put(f"{self.url}/modalities/{name}", json=body, timeout=30).raise_for_status()

    def modality_store(self, *, name: str, resources: list[str]) -> requests.Response:
        """Send resources to the modality `name` by C-STORE (Orthanc's /modalities/{id}/store)."""
        body = {"Resources": resources, "Synchronous": True}
        return requests.post(f"{self.url}/modalities/{name}/store", json=body, timeout=120)


@contextmanager
def orthanc_running(*, folder: Path, servers: dict[str, dict] | None = None) -> Iterator:
    """Run Orthanc (DICOMweb plugin, `servers` as DicomWeb.Servers) until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    server = OrthancServer(folder=folder, servers=servers or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()
