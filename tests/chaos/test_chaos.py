"""The fault suite's short form (outages of CXR_CHAOS_OUTAGE_S, 6 s unless set): every fault
of `make chaos` on services the suite owns, under API load, with nothing lost or duplicated."""

from __future__ import annotations

import os
import shutil

import pytest

from chaos.faults import FAULTS
from chaos.run import Timing, chaos_run, rows_table, rows_write
from portal.outage import OUTAGES
from tests.support.orthanc import dicomweb_plugin, orthanc_binary
from tests.support.services import service_missing

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.worker]

# What a client may be told while a part is down (portal.outage): each 5xx is one of these.
EXPLAINED_5XX = {f"503 {outage.code}" for outage in OUTAGES}


def _tools_check() -> None:
    if os.geteuid() != 0:
        service_missing("the fault suite mounts a tmpfs and runs initdb as postgres: needs root")
    if not shutil.which("redis-server") or not shutil.which("runuser"):
        service_missing("redis-server and runuser are needed")
    if not (orthanc_binary() and dicomweb_plugin()):
        service_missing("Orthanc with its DICOMweb plugin is not installed")


def test_every_fault_ends_with_nothing_lost_or_duplicated(tmp_path, monkeypatch, capsys):
    _tools_check()
    monkeypatch.setenv("CXR_CHAOS_OUTAGE_S", os.environ.get("CXR_CHAOS_OUTAGE_S", "6"))
    timing = Timing.from_env()
    rows = chaos_run(faults=list(FAULTS), timing=timing, log=lambda *args: None)
    rows_write(rows=rows, path=tmp_path / "chaos.json", timing=timing)
    with capsys.disabled():
        print("\n" + rows_table(rows=rows))
        print("\n".join(f"- {row.fault}: {row.notes}" for row in rows if row.notes))
    assert [row.fault for row in rows] == list(FAULTS)
    for row in rows:
        assert row.submitted > 0, row
        assert (row.lost, row.duplicated, row.half_written) == (0, 0, 0), row
        assert row.recovery_s is not None and row.recovery_s <= 60, row
        told = {note.split("x ", 1)[1] for note in row.notes.split("5xx: ")[-1].split(", ")
                if row.http_5xx and "x " in note}  # fmt: skip
        assert told <= EXPLAINED_5XX, row
