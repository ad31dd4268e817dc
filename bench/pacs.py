"""The PACS round trip: seconds from a film stored into Orthanc (at its defaults) to its report
back in that Orthanc study, over DICOMweb (Orthanc's STOW-RS client, chunked, to gunicorn) and
over DIMSE (Orthanc's C-STORE to `manage.py dicom_listener`, results back by C-STORE).

Runs its own gunicorn + Celery stack on the bench database, Debian's Orthanc and the listener.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import requests
from PIL import Image

from bench.common import REPO_ROOT, bench_images_load
from bench.stack import StackConfig, manage_run, port_free, process_group_stop, stack_running

USER, PEER_NAME, AE_TITLE = "bench-pacs", "cxrscreen", "CXRSCREEN"
PATIENT = {"PatientName": "Bench^Pacs", "PatientID": "BENCH-PACS-1", "AccessionNumber": "B-1"}


def films_make(*, n: int, data_dir: Path | None) -> tuple[list[bytes], str]:
    """Return `n` DX films with patient identifiers, each in a study of its own: the bench's
    chest images (real ones when ../shared/data is there) wrapped as DICOM."""
    from mlcore.testing.files import dicom_bytes

    images, source = bench_images_load(n=n, data_dir=data_dir, seed=3)
    films = []
    for seed, (_, data) in enumerate(images, start=9000):
        with Image.open(BytesIO(data)) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        films.append(dicom_bytes(pixels=pixels, seed=seed, patient=PATIENT))
    return films, source


def _results_back(*, orthanc: Any, study_id: str) -> list[str]:
    """Return the descriptions of our series in the study once the report is among them."""
    response = requests.get(f"{orthanc.url}/studies/{study_id}/series?expand", timeout=30)
    described = [s["MainDicomTags"].get("SeriesDescription", "") for s in response.json()]
    ours = [text for text in described if text.startswith("cxrscreen")]
    return ours if any(text.startswith("cxrscreen report") for text in ours) else []


def round_trip(
    *, orthanc: Any, data: bytes, push: Callable[[str], Any], timeout: float = 180
) -> tuple[float, int]:
    """Store `data` into Orthanc, push its study, wait for the report; return the seconds and
    how many result series came back (3 when the gate accepted the film: SC, map, report)."""
    started = time.monotonic()
    study_id = orthanc.instance_upload(data)["ParentStudy"]
    response = push(study_id)
    if not response.ok:
        raise RuntimeError(f"Orthanc could not push: {response.status_code} {response.text}")
    while not (back := _results_back(orthanc=orthanc, study_id=study_id)):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no report back in {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started, len(back)


@contextmanager
def listener_running(*, config: StackConfig, port: int) -> Iterator[subprocess.Popen]:
    """Run `manage.py dicom_listener` on the bench database until the block ends."""
    log = config.tmp / "listener.log"
    command = [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1",
               "--port", str(port), "--ae-title", AE_TITLE]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=config.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Listening as" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the listener did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process_group_stop(process=process)


def _summary(values: list[float], series: list[int]) -> dict[str, Any]:
    return {
        "n": len(values),
        "result_series_back": sorted(set(series)),
        "median_s": round(statistics.median(values), 2),
        "min_s": round(min(values), 2),
        "max_s": round(max(values), 2),
        "values_s": [round(v, 2) for v in values],
    }


def _peers_connect(*, config: StackConfig, orthanc: Any, base_url: str, port: int) -> None:
    """A pacs account whose token Orthanc sends, and Orthanc as a DICOM peer both ways."""
    manage_run(config=config, args=["create_user", "--username", USER, "--password",
                                    "bench-Pa55word-not-secret", "--role", "pacs"])  # fmt: skip
    token = manage_run(config=config, args=["drf_create_token", USER]).split()[2]
    orthanc.server_put(name=PEER_NAME, url=f"{base_url}/dicomweb/",
                       headers={"Authorization": f"Token {token}"})  # fmt: skip
    orthanc.modality_put(name=PEER_NAME, ae_title=AE_TITLE, port=port)
    peer = ["--ae-title", orthanc.AE_TITLE, "--user", USER, "--host", "127.0.0.1"]
    manage_run(config=config, args=["dicom_peer", *peer, "--port", str(orthanc.dicom_port)])


def pacs_run(*, config: StackConfig, n: int, data_dir: Path | None = None) -> dict[str, Any]:
    """Time `n` round trips each way (after one warm-up each); return their summary."""
    from tests.support.orthanc import orthanc_running

    films, source = films_make(n=2 * (n + 1), data_dir=data_dir)
    with orthanc_running(folder=config.tmp / "orthanc") as orthanc:
        os.environ["CXR_PACS_DICOMWEB_URL"] = orthanc.dicomweb_url  # the worker sends there
        port = port_free()
        with stack_running(config=config) as running, listener_running(config=config, port=port):
            _peers_connect(config=config, orthanc=orthanc, base_url=running.base_url, port=port)
            pushes = {
                "dicomweb": lambda sid: orthanc.stow_send(server=PEER_NAME, resources=[sid]),
                "dimse": lambda sid: orthanc.modality_store(name=PEER_NAME, resources=[sid]),
            }
            trips: dict[str, list[tuple[float, int]]] = {name: [] for name in pushes}
            for name, push in pushes.items():
                round_trip(orthanc=orthanc, data=films.pop(), push=push)  # warm-up
                for _ in range(n):
                    trips[name].append(round_trip(orthanc=orthanc, data=films.pop(), push=push))
    summary: dict[str, Any] = {
        name: _summary([s for s, _ in rows], [back for _, back in rows])
        for name, rows in trips.items()
    }
    return {**summary, "images_source": source}


def pacs_render(*, pacs: dict[str, Any]) -> list[str]:
    """Return the section's lines for RESULTS.md."""
    lines = ["", "## PACS round trip (Orthanc at its defaults)", "",
             "| path | n | median s | min s | max s | result series back |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    labels = {"dicomweb": "DICOMweb: STOW-RS in, STOW-RS out", "dimse": "DIMSE: C-STORE in and out"}
    for name, label in labels.items():
        row = pacs.get(name)
        if row:
            back = ", ".join(map(str, row.get("result_series_back", [])))
            lines.append(f"| {label} | {row['n']} | {row['median_s']} | {row['min_s']} | "
                         f"{row['max_s']} | {back} |")  # fmt: skip
    lines += [
        "",
        "From the film stored into Orthanc to the report back in its study (worker warm); films: "
        f"{pacs.get('images_source', '-')}; 3 series back: SC, Parametric Map and report.",
    ]
    return lines
