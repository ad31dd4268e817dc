"""`python -m bench`: run the sections `bench.options` names and write their figures."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.common import BENCH_DIR, bench_images_load, machine_describe, section_subprocess_run
from bench.options import args_parse
from bench.report import report_write, results_load


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _child_env(args: argparse.Namespace) -> dict[str, str]:
    env = {}
    if args.model:
        env["CXR_MODEL_NAME"] = args.model
    if args.weights_dir:
        env["CXR_WEIGHTS_DIR"] = str(args.weights_dir)
    env["CXR_COMPILED_DIR"] = args.compiled_dir
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def model_section_run(*, args: argparse.Namespace) -> dict[str, Any]:
    """Section 1 in a subprocess."""
    cmd = [
        "--n",
        str(args.model_n),
        "--warmup",
        str(args.model_warmup),
        "--batch",
        str(args.batch),
        "--profile-n",
        "10" if args.quick else "30",
    ]
    if args.model:
        cmd += ["--model", args.model]
    if args.data_dir:
        cmd += ["--data-dir", str(args.data_dir)]
    cmd += ["--compiled-dir", args.compiled_dir]
    return section_subprocess_run(
        module="bench.model_path", args=cmd, timeout=1800, env=_child_env(args)
    )


def baseline_section_run(*, args: argparse.Namespace) -> dict[str, Any]:
    """Section 2 in a subprocess."""
    cmd = ["--n", str(args.baseline_n), "--warmup", str(args.baseline_warmup)]
    if args.data_dir:
        cmd += ["--data-dir", str(args.data_dir)]
    return section_subprocess_run(
        module="bench.baseline", args=cmd, timeout=1800, env=_child_env(args)
    )


def _section_stamp(*, sec: dict[str, Any], args: argparse.Namespace, t0: float | None) -> None:
    """Add when, in which run and under which load a section ran."""
    sec.update(loadavg_after=list(os.getloadavg()), ran_at=_now(), quick=args.quick)
    sec["run_id"] = args.run_id
    if t0 is not None:
        sec["section_wall_s"] = round(time.monotonic() - t0, 1)


def _section_timed(
    *, args: argparse.Namespace, message: str, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Log `message`, run one in-process section and stamp its figures."""
    _log(message)
    t0 = time.monotonic()
    sec = run()
    _section_stamp(sec=sec, args=args, t0=t0)
    return sec


def _pipeline_section_run(
    *, args: argparse.Namespace, running: Any, images: list, source: str
) -> dict[str, Any]:
    from bench import pipeline

    options = {
        "n_latency": args.latency_n,
        "n_throughput": args.throughput_n,
        "clients": args.clients,
        "window": args.client_window,
        "poll_s": args.poll_ms / 1000.0,
        "throughput_poll_s": args.throughput_poll_ms / 1000.0,
    }
    sec = _section_timed(
        args=args,
        message=f"pipeline: {args.latency_n} low-load + {args.throughput_n} sustained images",
        run=lambda: pipeline.pipeline_run(stack=running, images=images, **options),
    )
    return {**sec, "images_source": source}


def _memory_section_run(
    *, args: argparse.Namespace, running: Any, images: list, done_before: int
) -> dict[str, Any]:
    from bench import memory

    options = {"every": args.memory_every, "clients": 6, "poll_s": 0.5}
    return _section_timed(
        args=args,
        message=f"memory: {args.memory_n} predictions, sampled every {args.memory_every}",
        run=lambda: memory.memory_run(
            stack=running, images=images, predictions_before=done_before, **options
        ),
    )


def _api_sections_run(
    *, args: argparse.Namespace, config: Any, wanted: list[str], results: dict, save: Any
) -> None:
    """Sections 3 and 5 on one gunicorn + Celery stack; log the stack's tails on failure."""
    from bench import api, stack

    n_pipe = 4 + args.latency_n + args.throughput_n
    n_shadow = 8 + 2 * args.shadow_n if "shadow" in wanted else 0
    images, source = bench_images_load(
        n=n_pipe + args.memory_n + n_shadow, data_dir=args.data_dir, seed=2
    )
    _log("starting gunicorn + Celery worker")
    with stack.stack_running(config=config) as running:
        try:
            done_before = 4
            if "pipeline" in wanted:
                results["sections"]["pipeline"] = _pipeline_section_run(
                    args=args, running=running, images=images[:n_pipe], source=source
                )
                done_before = n_pipe
                save()
            else:
                api.stack_warm(stack=running, images=images[:4])
            if "memory" in wanted:
                results["sections"]["memory"] = _memory_section_run(
                    args=args,
                    running=running,
                    images=images[n_pipe : n_pipe + args.memory_n],
                    done_before=done_before,
                )
                save()
            if "shadow" in wanted:
                results["sections"]["shadow"] = _shadow_section_run(
                    args=args, running=running, images=images[n_pipe + args.memory_n :]
                )
                save()
        except Exception:
            _log(
                "stack section failed; worker log tail:\n"
                + stack.log_tail(path=running.logs["worker"])
                + "\nweb log tail:\n"
                + stack.log_tail(path=running.logs["web"])
            )
            raise


def _shadow_section_run(*, args: argparse.Namespace, running: Any, images: list) -> dict:
    from bench import shadow

    options = {
        "n": args.shadow_n,
        "clients": args.clients,
        "window": args.client_window,
        "poll_s": args.throughput_poll_ms / 1000.0,
    }
    return _section_timed(
        args=args,
        message=f"shadow: {args.shadow_n} images without, then with a candidate in shadow",
        run=lambda: shadow.shadow_run(stack=running, images=images, model=args.model, **options),
    )


def _history_section_run(*, args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connections

    from bench import history

    studies = args.history_studies
    sec = _section_timed(
        args=args,
        message=f"history: seeding {studies:,} studies ({studies * 2:,} predictions)",
        run=lambda: history.history_run(studies=studies, n=args.history_requests),
    )
    connections.close_all()
    return sec


def _pacs_section_run(*, args: argparse.Namespace, config: Any) -> dict[str, Any]:
    from bench import pacs

    n = 3 if args.quick else 10
    return _section_timed(
        args=args,
        message=f"pacs: {n} round trips each over DICOMweb and DIMSE with Orthanc",
        run=lambda: pacs.pacs_run(config=config, n=n, data_dir=args.data_dir),
    )


def stack_sections_run(*, args: argparse.Namespace, results: dict[str, Any], save: Any) -> None:
    """Sections 3-6 on a fresh bench database; always stops the stack and drops the database."""
    from bench import history, stack

    wanted = [s for s in ("pipeline", "memory", "history", "pacs", "shadow") if s in args.sections]
    if not wanted:
        return
    if args.weights_dir:
        os.environ["CXR_WEIGHTS_DIR"] = str(args.weights_dir)
    # The stack's worker reads the same flatbuffer cache as the model section.
    os.environ["CXR_COMPILED_DIR"] = args.compiled_dir
    config = stack.StackConfig(
        gunicorn_workers=args.gunicorn_workers,
        gunicorn_threads=args.gunicorn_threads,
        worker_concurrency=args.worker_concurrency,
        model=args.model,
    )
    if "shadow" in wanted:
        from bench.shadow import shadow_stack_prepare

        args.model = config.model = shadow_stack_prepare(
            model=args.model, weights_dir=args.weights_dir, tmp=config.tmp
        )
    results["machine"]["postgresql"] = stack.postgres_version(config=config)
    _log(f"creating database {config.db_name}, queue {config.queue}, tmp {config.tmp}")
    with stack.database_running(config=config):
        history.django_setup(config=config)
        if {"pipeline", "memory", "shadow"} & set(wanted):
            _api_sections_run(args=args, config=config, wanted=wanted, results=results, save=save)
        if "history" in wanted:
            results["sections"]["history"] = _history_section_run(args=args)
            save()
        if "pacs" in wanted:
            results["sections"]["pacs"] = _pacs_section_run(args=args, config=config)
            save()
    shutil.rmtree(config.tmp, ignore_errors=True)  # kept (with the logs) only after a failure


def main(argv: list[str] | None = None) -> int:
    args = args_parse(argv)
    # Every section of this invocation carries its id: ratios across sections (the speedup) are
    # only computed between sections of one run, on one machine in one state.
    args.run_id = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_json = args.out_dir / "results.json"
    results = {"machine": {}, "sections": {}} if args.fresh else results_load(path=out_json)
    if not args.report_only:
        results["machine"] = {**results.get("machine", {}), **machine_describe()}
    notes = BENCH_DIR / "NOTES.md"

    def save() -> None:
        report_write(results=results, out_dir=args.out_dir, notes_path=notes, plot=not args.no_plot)

    if args.report_only:
        save()
        _log(f"rewrote {args.out_dir / 'RESULTS.md'} and results.png from results.json")
        return 0

    failures = []
    for name, runner in (("model", model_section_run), ("baseline", baseline_section_run)):
        if name not in args.sections:
            continue
        _log(f"{name}: starting (subprocess)")
        try:
            sec = runner(args=args)
        except Exception as exc:
            _log(f"{name} failed: {exc}")
            failures.append(name)
            continue
        _section_stamp(sec=sec, args=args, t0=None)
        results["sections"][name] = sec
        save()
    try:
        stack_sections_run(args=args, results=results, save=save)
    except Exception:
        _log("stack sections failed:\n" + traceback.format_exc())
        failures.append("stack")
    save()
    _log(f"wrote {args.out_dir / 'RESULTS.md'}, results.json, results.png")
    for line in (args.out_dir / "RESULTS.md").read_text().splitlines()[6:20]:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
