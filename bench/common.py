"""Shared helpers: percentiles, bench images, machine facts, JSON sections in subprocesses."""

from __future__ import annotations

import cProfile
import csv
import datetime as dt
import importlib.metadata
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
SHARED_CXR = REPO_ROOT.parent / "shared" / "data" / "cxr"


def percentiles_summarise(*, values: Iterable[float]) -> dict[str, float]:
    """Return n, p50, p95, mean, min and max of `values` (linear interpolation; NaN if empty)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        nan = float("nan")
        return {"n": 0, "p50": nan, "p95": nan, "mean": nan, "min": nan, "max": nan}
    return {
        "n": int(arr.size),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def bench_images_load(
    *, n: int, data_dir: Path | None = None, seed: int = 0
) -> tuple[list[tuple[str, bytes]], str]:
    """Return `n` (filename, bytes) chest images and where they came from.

    Real JPEGs from ../shared/data/cxr (metadata.csv order, cycled when `n` exceeds the set),
    or synthetic chest-like PNGs from mlcore.testing when the folder is absent. The source
    is described relative to the project's root, so results carry no machine's paths.
    """
    data_dir = data_dir or SHARED_CXR
    meta = data_dir / "metadata.csv"
    if meta.is_file():
        with meta.open(newline="") as fh:
            files = [row["file"] for row in csv.DictReader(fh)]
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(files))
        out = []
        for i in range(n):
            rel = files[int(order[i % len(files)])]
            out.append((Path(rel).name, (data_dir / rel).read_bytes()))
        return out, f"{path_describe(path=data_dir)} ({len(files)} images, {n} used)"
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import png_bytes

    out = []
    for i in range(n):
        pixels = chest_like_array(size=(320, 288), seed=seed + i)
        out.append((f"synthetic-{i}.png", png_bytes(pixels=pixels)))
    absent = path_describe(path=meta)
    return out, f"mlcore.testing chest_like_array 288x320 PNG ({n} generated; {absent} absent)"


def path_describe(*, path: Path) -> str:
    """Return `path` relative to the project's root (with ../ where needed) when it can be."""
    try:
        return os.path.relpath(path.resolve(), REPO_ROOT)
    except ValueError:  # another drive on Windows
        return str(path)


def profile_text(*, prof: cProfile.Profile, top: int, tottime_top: int = 20) -> str:
    """Return a profile's top functions by own time, then by cumulative time."""
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(tottime_top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def _package_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def machine_describe() -> dict[str, Any]:
    """Return CPU model, cores, RAM, Python, TensorFlow/Keras versions and the UTC date."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "tensorflow": _package_version("tensorflow-cpu", "tensorflow"),
        "keras": _package_version("keras"),
        "django": _package_version("django"),
        "celery": _package_version("celery"),
        "postgresql": None,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg_at_start": list(os.getloadavg()),
    }


def section_subprocess_run(
    *, module: str, args: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `python -m <module> <args> --json-out F` in a fresh process; return F's JSON.

    TensorFlow sections run this way so each process's memory and warm-up stay its own.
    """
    with tempfile.TemporaryDirectory(prefix="cxr-bench-") as tmp:
        out = Path(tmp) / "section.json"
        cmd = [sys.executable, "-m", module, *args, "--json-out", str(out)]
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"{module} failed with exit status {proc.returncode}")
        data = json.loads(out.read_text())
        data.setdefault("section_wall_s", round(time.monotonic() - started, 1))
        return data


def json_write(*, path: Path, data: Any) -> None:
    """Write `data` as indented JSON (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_nan_to_none(data), indent=2, sort_keys=False) + "\n")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:  # NaN
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def rss_read(*, pid: int) -> dict[str, float] | None:
    """Return {"rss_mb", "hwm_mb"} of a live process from /proc/<pid>/status, or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    if "VmRSS" not in values:
        return None
    return {"rss_mb": round(values["VmRSS"], 1), "hwm_mb": round(values.get("VmHWM", 0.0), 1)}


def process_children(*, pid: int) -> list[int]:
    """Return the pids whose parent is `pid` (scans /proc; no psutil)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return sorted(kids)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(*, pid: int, children: bool = False) -> float:
    """Return a process's user+system CPU seconds (plus its reaped children's when asked)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return 0.0
    # After the command name: state is fields[0]; utime, stime, cutime, cstime are 11..14.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def postmaster_pid() -> int | None:
    """Return the PostgreSQL postmaster's pid (a `postgres` process whose parent is not one)."""
    comm = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.find("(") + 1 : stat.rfind(")")]
            comm[int(entry.name)] = (name, int(stat.rsplit(")", 1)[-1].split()[1]))
    for pid, (name, ppid) in sorted(comm.items()):
        if name == "postgres" and comm.get(ppid, ("", 0))[0] != "postgres":
            return pid
    return None


def machine_cpu_seconds() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS
