"""Run the faults one at a time under load; measure each; write the table and the JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos import ledger
from chaos.faults import FAULTS, FaultContext
from chaos.load import ApiLoad, token_get
from chaos.services import MediaTmpfs, owned_services_start, temp_root
from chaos.stack import CLINICIAN, PASSWORD, ChaosStack, StackShape

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "chaos.json"


@dataclass(frozen=True)
class Timing:
    """How long each phase lasts; `CXR_CHAOS_OUTAGE_S` shortens the outages (CI)."""

    outage_s: float = 30.0  # PostgreSQL down, media full
    pacs_down_s: float = 120.0
    warm_s: float = 5.0  # load before the fault
    after_s: float = 8.0  # load after recovery
    recovery_limit_s: float = 150.0
    drain_s: float = 120.0

    @classmethod
    def from_env(cls) -> Timing:
        outage = os.environ.get("CXR_CHAOS_OUTAGE_S")
        if not outage:
            return cls()
        seconds = float(outage)
        return cls(outage_s=seconds, pacs_down_s=seconds, warm_s=3.0, after_s=3.0)


@dataclass
class Row:
    fault: str
    submitted: int
    final: int
    lost: int
    duplicated: int
    http_5xx: int
    recovery_s: float | None
    half_written: int
    failed: int
    connection_errors: int
    statuses: dict
    notes: str


def _images(count: int = 24) -> list[bytes]:
    from mlcore.testing.arrays import chest_like_array
    from mlcore.testing.files import png_bytes

    return [png_bytes(pixels=chest_like_array(size=(256, 256), seed=s)) for s in range(count)]


def _recovered_at(*, ctx: FaultContext, tag: str, ended: float, limit_s: float) -> float | None:
    """Wait until a submission succeeded after the fault and nothing from before is pending."""
    stack, tally = ctx.stack, ctx.load.tally
    while time.monotonic() < ended + limit_s:
        ok = tally.first_ok_after(moment=ended)
        pending = ledger.pending_count(database_url=stack.database_url, tag=tag)
        delivered = True
        if ctx.pacs_batch is not None:
            uids = ctx.pacs_batch.accepted_uids
            sent = ledger.pacs_delivered(database_url=stack.database_url, study_uids=uids)
            delivered = len(sent) >= len(uids)
        if ok is not None and pending == 0 and delivered:
            return time.monotonic()
        time.sleep(0.5)
    return None


def _drained(*, stack: ChaosStack, tag: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if ledger.pending_count(database_url=stack.database_url, tag=tag) == 0:
            return
        time.sleep(0.5)


def _counts(*, ctx: FaultContext, tag: str) -> ledger.Ledger:
    """What became of the images of `tag` (and of the studies pushed over STOW-RS)."""
    database_url = ctx.stack.database_url
    counts = ledger.images_ledger(
        database_url=database_url, tag=tag, accepted=ctx.load.tally.accepted
    )
    if ctx.pacs_batch is None:
        return counts
    uids = ctx.pacs_batch.accepted_uids
    delivered = ledger.pacs_delivered(database_url=database_url, study_uids=uids)
    pacs = ledger.pacs_ledger(database_url=database_url, study_uids=uids, delivered=delivered)
    ctx.notes.append(f"{len(uids)} studies over STOW-RS, results delivered to Orthanc")
    fields = ledger.Ledger.__dataclass_fields__
    return ledger.Ledger(*(getattr(counts, f) + getattr(pacs, f) for f in fields))


def fault_measure(
    *, name: str, stack: ChaosStack, orthanc, pacs_token: str, token: str, timing: Timing
) -> Row:
    """Drive load, inject the fault, wait for recovery, count what became of every image."""
    tag = f"chaos-{name}-{int(time.time())}"
    load = ApiLoad(base_url=stack.base_url, token=token, tag=tag, images=_images())
    ctx = FaultContext(
        stack=stack, orthanc=orthanc, pacs_token=pacs_token, load=load,
        outage_s=timing.outage_s, pacs_down_s=timing.pacs_down_s,
    )  # fmt: skip
    if name == "web_killed_mid_upload":
        load.clients, load.pause_s = 4, 0.05  # uploads in flight when the process dies
    load.start()
    time.sleep(timing.warm_s)
    FAULTS[name](ctx)
    ended = time.monotonic()
    recovered = _recovered_at(ctx=ctx, tag=tag, ended=ended, limit_s=timing.recovery_limit_s)
    time.sleep(timing.after_s)
    load.stop()
    _drained(stack=stack, tag=tag, limit_s=timing.drain_s)
    counts = _counts(ctx=ctx, tag=tag)
    # What beat's hourly media sweep does, now: files a killed process left behind go.
    swept = stack.manage("media_orphans_sweep", "--older-than", "0").split()[1]
    if swept != "0":
        ctx.notes.append(f"{swept} file(s) of uploads cut off mid-write removed by the media sweep")
    half = ledger.half_written_files(database_url=stack.database_url, media_root=stack.media.root)
    tally = load.tally
    if tally.resent:
        ctx.notes.append(
            f"{tally.resent} sends repeated with their Idempotency-Key; {tally.replayed} "
            "answered with the study an earlier send had stored"
        )
    if tally.codes_5xx:  # last: the suite reads the 5xx codes from the end of the notes
        ctx.notes.append("5xx: " + ", ".join(f"{n}x {c}" for c, n in tally.codes_5xx.items()))
    return Row(
        fault=name,
        submitted=counts.submitted,
        final=counts.final,
        lost=counts.lost,
        duplicated=counts.duplicated,
        http_5xx=tally.http_5xx,
        recovery_s=None if recovered is None else round(recovered - ended, 1),
        half_written=len(half),
        failed=counts.failed,
        connection_errors=tally.connection_errors,
        statuses={str(code): n for code, n in sorted(tally.statuses.items())},
        notes="; ".join(ctx.notes),
    )


def chaos_run(
    *, faults: Sequence[str], timing: Timing, shape: StackShape | None = None, log=print
) -> list[Row]:
    """Start the owned services and the stack, run each fault, tear everything down."""
    from tests.support.orthanc import OrthancServer

    root = temp_root()
    rows: list[Row] = []
    with ExitStack() as cleanup:
        postgres, redis = owned_services_start(cleanup=cleanup, root=root)
        media = MediaTmpfs(root=root / "media")
        media.mount()
        cleanup.callback(media.close)
        orthanc = None
        if "pacs_down" in faults:
            (root / "orthanc").mkdir()
            orthanc = OrthancServer(folder=root / "orthanc", servers={})
            orthanc.start()
            cleanup.callback(orthanc.stop)
        shape = shape or StackShape()
        if orthanc is not None:
            shape.pacs_url = orthanc.dicomweb_url
        stack = ChaosStack(root=root, shape=shape, postgres=postgres, redis=redis, media=media)
        cleanup.callback(stack.close)
        log(f"chaos: starting the stack under {root}")
        pacs_token = stack.start()
        token = token_get(base_url=stack.base_url, username=CLINICIAN, password=PASSWORD)
        for name in faults:
            log(f"chaos: {name} ...")
            row = fault_measure(
                name=name, stack=stack, orthanc=orthanc, pacs_token=pacs_token, token=token,
                timing=timing,
            )  # fmt: skip
            log(f"chaos: {name}: {row}")
            rows.append(row)
    return rows


def rows_table(*, rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = (
        "| fault | submitted | final | lost | duplicated | half-written | http 5xx | recovery s |"
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        recovery = "not within limit" if r.recovery_s is None else f"{r.recovery_s:.1f}"
        lines.append(
            f"| {r.fault} | {r.submitted} | {r.final} | {r.lost} | {r.duplicated} | "
            f"{r.half_written} | {r.http_5xx} | {recovery} |"
        )
    return "\n".join(lines)


def rows_write(*, rows: Sequence[Row], path: Path, timing: Timing) -> None:
    """Write the rows as a JSON list (the issue's keys first, then the details)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    payload = [{**asdict(r), "measured": stamp, "timing": asdict(timing)} for r in rows]
    path.write_text(json.dumps(payload, indent=2) + "\n")
