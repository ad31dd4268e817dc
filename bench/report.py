"""Turn the sections' figures into results.json's headline keys, RESULTS.md and results.png."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import json_write

STAGES = ("decode", "gate", "preprocess", "classify", "gradcam", "overlay")


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float | bool
    kind: str  # "max" (value <= limit), "min" (value >= limit), "true"
    unit: str


TARGETS = (
    Target("classify_ms_p50", "classify p50 (batch 1)", 10.0, "max", "ms"),
    Target("full_ms_p50", "full p50 (gate + classify + Grad-CAM + overlay)", 40.0, "max", "ms"),
    Target("speedup_vs_baseline", "speedup vs 2020 baseline (p50)", 10.0, "min", "x"),
    Target("pipeline_latency_ms_p50", "submit-to-done p50, low load", 500.0, "max", "ms"),
    Target(
        "pipeline_images_per_s",
        "sustained images/s with heatmaps, 10 clients",
        10.0,
        "min",
        "img/s",
    ),
    Target("history_ms_p95_100k", "case history page p95 at 100k predictions", 100.0, "max", "ms"),
    Target("history_api_ms_p95_100k", "API study list p95 at 100k predictions", 100.0, "max", "ms"),
    Target("worker_rss_mb", "Celery worker child peak RSS", 1536.0, "max", "MB"),
    Target("worker_rss_flat", "worker RSS flat over predictions", True, "true", ""),
)


def _get(data: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def sections_same_run(*, a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Return True when two sections come from one bench invocation (or both predate run ids)."""
    return bool(a) and bool(b) and a.get("run_id") == b.get("run_id")


def summary_compute(*, sections: dict[str, Any]) -> dict[str, Any]:
    """Return the headline keys of results.json from whatever sections have run."""
    model, base = sections.get("model"), sections.get("baseline")
    pipe, hist, mem = sections.get("pipeline"), sections.get("history"), sections.get("memory")
    full = _num(_get(model, "full_ms", "p50"))
    baseline = _num(_get(base, "total_ms", "p50"))
    out: dict[str, Any] = {
        "classify_ms_p50": _num(_get(model, "stages_ms", "classify", "p50")),
        "classify_ms_p95": _num(_get(model, "stages_ms", "classify", "p95")),
        "full_ms_p50": full,
        "full_ms_p95": _num(_get(model, "full_ms", "p95")),
        "classify_batch16_images_per_s": _num(_get(model, "batch", "images_per_s")),
        "model_name": _get(model, "model_name"),
        "baseline_ms_p50": baseline,
        # A ratio of two sections timed in different runs mixes two machine states.
        "speedup_vs_baseline": (
            (baseline / full) if baseline and full and sections_same_run(a=model, b=base) else None
        ),
        "pipeline_latency_ms_p50": _num(_get(pipe, "low_load", "latency_ms", "p50")),
        "pipeline_latency_ms_p95": _num(_get(pipe, "low_load", "latency_ms", "p95")),
        "pipeline_images_per_s": _num(_get(pipe, "sustained", "done_images_per_s")),
        "history_ms_p95_100k": _num(_get(hist, "web_ms_p95_worst")),
        "history_api_ms_p95_100k": _num(_get(hist, "api_ms_p95_worst")),
        "history_rows": _get(hist, "seeded", "predictions_in_db"),
        "worker_rss_mb": _num(_get(mem, "celery_child_hwm_mb")),
        "worker_rss_flat": _get(mem, "flat"),
        "worker_rss_growth_mb": _num(_get(mem, "celery_child_rss_growth_mb")),
        "web_rss_mb": _num(_get(mem, "web_worker_hwm_mb")),
        "memory_predictions": _get(mem, "predictions_total"),
    }
    return out


def target_check(*, target: Target, value: Any) -> str:
    """Return "pass", "MISS" or "not run" for one figure."""
    if value is None:
        return "not run"
    if target.kind == "true":
        return "pass" if value is True else "MISS"
    v = _num(value)
    if v is None:
        return "not run"
    ok = v <= target.limit if target.kind == "max" else v >= target.limit
    return "pass" if ok else "MISS"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    v = _num(value)
    if v is None:
        return str(value)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _limit(t: Target) -> str:
    if t.kind == "true":
        return "yes"
    op = "<=" if t.kind == "max" else ">="
    return f"{op} {_fmt(t.limit)} {t.unit}".strip()


def _stage_table(model: dict[str, Any]) -> list[str]:
    lines = ["| stage | p50 ms | p95 ms | n |", "| --- | ---: | ---: | ---: |"]
    for stage in STAGES:
        s = _get(model, "stages_ms", stage) or {}
        lines.append(
            f"| {stage} | {_fmt(s.get('p50'), 2)} | {_fmt(s.get('p95'), 2)} | {s.get('n', 0)} |"
        )
    for key, name in (
        ("full_ms", "**full** (gate+classify+gradcam+overlay)"),
        ("screen_wall_ms", "screen() wall clock"),
    ):
        s = model.get(key) or {}
        lines.append(
            f"| {name} | {_fmt(s.get('p50'), 2)} | {_fmt(s.get('p95'), 2)} | {s.get('n', 0)} |"
        )
    return lines


def _breakdown_table(b: dict[str, Any] | None) -> list[str]:
    if not b:
        return []
    lines = ["| part | p50 ms | p95 ms |", "| --- | ---: | ---: |"]
    names = {
        "web_ms": "web: request start -> prediction row created",
        "enqueue_ms": "created -> enqueued (on_commit publish)",
        "queue_ms": "created -> task started (broker + pick-up)",
        "task_ms": "task started -> finished",
        "poll_lag_ms": "finished -> client saw final (polling)",
    }
    for key, name in names.items():
        s = b.get(key) or {}
        if s.get("n"):
            lines.append(f"| {name} | {_fmt(s.get('p50'))} | {_fmt(s.get('p95'))} |")
    for stage, s in (b.get("task_stages_ms") or {}).items():
        lines.append(f"| task stage `{stage}` | {_fmt(s.get('p50'))} | {_fmt(s.get('p95'))} |")
    return lines


def _cpu_lines(cpu: dict[str, Any] | None) -> list[str]:
    if not cpu:
        return []
    return [
        "",
        "CPU per image during the sustained run (from /proc): gunicorn "
        f"{_fmt(cpu.get('web_cpu_ms_per_image'))} ms, Celery "
        f"{_fmt(cpu.get('worker_cpu_ms_per_image'))} ms, PostgreSQL (all databases on the "
        f"server) {_fmt(cpu.get('postgres_all_databases_cpu_ms_per_image'))} ms, bench clients "
        f"{_fmt(cpu.get('bench_client_cpu_ms_per_image'))} ms; machine busy "
        f"{_fmt(100 * (cpu.get('machine_busy_fraction') or 0))} %, of which this stack "
        f"{_fmt(100 * (cpu.get('stack_share_of_busy_cpu') or 0))} %. CPU-bound ceiling with the "
        f"cores to itself: {_fmt(cpu.get('cpu_ceiling_images_per_s'))} images/s.",
    ]


def diagnosis_lines(*, summary: dict[str, Any], sections: dict[str, Any]) -> list[str]:
    """Automatic pointers for every missed target (where the time or memory goes)."""
    out = []
    model = sections.get("model") or {}
    for t in TARGETS:
        if target_check(target=t, value=summary.get(t.key)) != "MISS":
            continue
        if t.key in ("classify_ms_p50", "full_ms_p50", "speedup_vs_baseline"):
            stages = {s: _num(_get(model, "stages_ms", s, "p50")) or 0.0 for s in STAGES}
            top = sorted(stages.items(), key=lambda kv: kv[1], reverse=True)[:3]
            out.append(
                f"- **{t.label}** missed: largest stages by p50: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in top)
                + " (cProfile top functions below)."
            )
        elif t.key.startswith("pipeline"):
            part = "low_load" if "latency" in t.key else "sustained"
            b = _get(sections, "pipeline", part, "breakdown") or {}
            parts = {
                k: _num(_get(b, k, "p50")) for k in ("web_ms", "queue_ms", "task_ms", "poll_lag_ms")
            }
            out.append(
                f"- **{t.label}** missed: p50 split "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in parts.items() if v is not None)
                + "."
            )
        elif t.key.startswith("history"):
            out.append(f"- **{t.label}** missed: see the EXPLAIN ANALYZE plans below.")
        elif t.key.startswith("worker_rss"):
            out.append(f"- **{t.label}** missed: see the RSS samples below.")
    return out


def markdown_render(*, results: dict[str, Any], notes: str | None = None) -> str:
    """Return RESULTS.md: the target table, then each section's details."""
    sections, summary, machine = results["sections"], results["summary"], results["machine"]
    m = machine
    lines = [
        "# cxrscreen benchmark results",
        "",
        "Generated by `make bench` (`python -m bench`); figures in `bench/results.json`, plot in "
        "`bench/results.png`.",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores ({m.get('cores_usable')} usable), "
        f"{m.get('ram_gib')} GiB RAM, Python {m.get('python')}, TensorFlow {m.get('tensorflow')}, "
        f"Keras {m.get('keras')}, PostgreSQL {m.get('postgresql')}; {m.get('date')}; "
        f"load average at start {[round(x, 1) for x in m.get('loadavg_at_start') or []]}.",
        "",
        "| figure | measured | target | result | section run |",
        "| --- | ---: | ---: | :---: | --- |",
    ]
    # The speedup is a ratio of two sections; timed in different runs, it is not computed.
    model_sec, base_sec = sections.get("model"), sections.get("baseline")
    speedup_two_runs = (
        bool(model_sec) and bool(base_sec) and not sections_same_run(a=model_sec, b=base_sec)
    )
    where = {
        "classify": "model",
        "full": "model",
        "speedup": "baseline",
        "pipeline": "pipeline",
        "history": "history",
        "worker": "memory",
    }
    for t in TARGETS:
        sec = where[t.key.split("_")[0]]
        meta = sections.get(sec) or {}
        ran = f"{meta.get('ran_at', '-')}{' (quick)' if meta.get('quick') else ''}"
        if meta.get("loadavg_after"):
            ran += f", load {meta['loadavg_after'][0]:.1f}"
        value = summary.get(t.key)
        unit = f" {t.unit}" if t.unit and value is not None and t.kind != "true" else ""
        result = target_check(target=t, value=value)
        if t.key == "speedup_vs_baseline" and speedup_two_runs:
            result = "not computed (two runs)"
        lines.append(f"| {t.label} | {_fmt(value)}{unit} | {_limit(t)} | {result} | {ran} |")
    diag = diagnosis_lines(summary=summary, sections=sections)
    if diag:
        lines += ["", "## Misses (automatic pointers)", "", *diag]
    if notes:
        lines += ["", "## Analysis and fixes", "", notes.strip()]

    model = sections.get("model")
    if model:
        lines += [
            "",
            "## 1. Model path (batch 1, per stage)",
            "",
            f"Model `{model.get('model_name')}` {model.get('model_version') or ''}; "
            f"{model.get('n_images')} images from {model.get('images_source')} after "
            f"{model.get('warmup')} warm-up; accepted {model.get('accepted')}, refused by "
            f"the gate {model.get('rejected_by_gate')}, failed {model.get('failed')}. "
            f"Model load {model.get('model_load_s')} s; peak RSS "
            f"{_fmt(model.get('peak_rss_mb'))} MB.",
            "",
            *_stage_table(model),
            "",
        ]
        for key in ("batch1", "batch"):
            b = model.get(key) or {}
            if b:
                lines.append(
                    f"- `classify_batch` at batch {b.get('batch')}: "
                    f"{_fmt(b.get('images_per_s'))} images/s ({b.get('images')} images, "
                    f"{_fmt(_get(b, 'call_ms', 'p50'), 2)} ms per call p50)."
                )
        if model.get("profile_top"):
            lines += [
                "",
                "<details><summary>cProfile of screen() (cumulative)</summary>",
                "",
                "```",
                model["profile_top"].strip()[:6000],
                "```",
                "</details>",
            ]

    base = sections.get("baseline")
    if base:
        if summary.get("speedup_vs_baseline"):
            speedup = f"**{_fmt(summary.get('speedup_vs_baseline'))}x**."
        elif speedup_two_runs:
            speedup = (
                "not computed: the model and baseline sections come from different bench runs "
                "(rerun `python -m bench --only model,baseline`)."
            )
        else:
            speedup = "not computed (the model section has not run)."
        lines += [
            "",
            "## 2. Baseline (2020 demo: VGG16, model.predict per image)",
            "",
            f"{base.get('model')}, {base.get('params'):,} parameters, "
            f"{base.get('n_images')} images after {base.get('warmup')} warm-up.",
            "",
            "| part | p50 ms | p95 ms |",
            "| --- | ---: | ---: |",
            f"| decode + resize 224x224x3 | {_fmt(_get(base, 'decode_resize_ms', 'p50'))} | "
            f"{_fmt(_get(base, 'decode_resize_ms', 'p95'))} |",
            f"| model.predict | {_fmt(_get(base, 'predict_ms', 'p50'))} | "
            f"{_fmt(_get(base, 'predict_ms', 'p95'))} |",
            f"| **total** | {_fmt(_get(base, 'total_ms', 'p50'))} | "
            f"{_fmt(_get(base, 'total_ms', 'p95'))} |",
            "",
            "Speedup (baseline p50 / our full p50): " + speedup,
        ]

    pipe = sections.get("pipeline")
    if pipe:
        low, sus = pipe.get("low_load") or {}, pipe.get("sustained") or {}
        lines += [
            "",
            "## 3. Pipeline through the API (gunicorn + Celery + PostgreSQL + Redis)",
            "",
            f"Stack: {pipe.get('stack')}. Warm-up {pipe.get('warmup_s')} s.",
            "",
            f"**Low load** (1 client, 1 image at a time, poll every "
            f"{int(low.get('poll_s', 0) * 1000)} ms): {low.get('n')} images, submit-to-done "
            f"p50 {_fmt(_get(low, 'latency_ms', 'p50'))} ms, "
            f"p95 {_fmt(_get(low, 'latency_ms', 'p95'))} ms; submit request p50 "
            f"{_fmt(_get(low, 'submit_request_ms', 'p50'))} ms; statuses "
            f"{low.get('statuses')}; errors {low.get('n_errors')}.",
            "",
            *_breakdown_table(low.get("breakdown")),
            "",
            f"**Sustained** ({sus.get('clients')} clients, poll every "
            f"{int(sus.get('poll_s', 0) * 1000)} ms): {sus.get('final')} of "
            f"{sus.get('submitted')} final ({sus.get('done')} done, "
            f"{sus.get('with_heatmap')} with a heatmap) in {sus.get('wall_s')} s = "
            f"**{_fmt(sus.get('done_images_per_s'), 2)} images/s** (steady state, 10th-90th "
            f"percentile completions: {_fmt(sus.get('steady_done_images_per_s'), 2)}); latency p50 "
            f"{_fmt(_get(sus, 'latency_ms', 'p50'))} ms, p95 "
            f"{_fmt(_get(sus, 'latency_ms', 'p95'))} ms; statuses {sus.get('statuses')}; "
            f"errors {sus.get('n_errors')}.",
            "",
            *_breakdown_table(sus.get("breakdown")),
            *_cpu_lines(sus.get("cpu")),
        ]
        inproc = pipe.get("in_process") or {}
        if inproc:
            lines += [
                "",
                f"In-process (Django test Client, no gunicorn/network): submit request "
                f"p50 {_fmt(_get(inproc, 'submit_server_ms', 'p50'))} ms, poll request "
                f"(study detail) p50 {_fmt(_get(inproc, 'poll_server_ms', 'p50'))} ms.",
            ]
            for key in ("submit_profile", "poll_profile"):
                if inproc.get(key):
                    lines += [
                        "",
                        f"<details><summary>cProfile: {key}</summary>",
                        "",
                        "```",
                        inproc[key].strip()[:7000],
                        "```",
                        "</details>",
                    ]
        if pipe.get("breakdown_error"):
            lines.append(f"\nBreakdown unavailable: `{pipe['breakdown_error']}`")

    hist = sections.get("history")
    if hist:
        seeded = hist.get("seeded") or {}
        lines += [
            "",
            "## 4. Scale: case history at 100k predictions",
            "",
            f"Seeded {seeded.get('studies'):,} studies, {seeded.get('images'):,} images, "
            f"{seeded.get('predictions'):,} predictions, {seeded.get('reviews'):,} reviews "
            f"in {seeded.get('seed_s')} s ({seeded.get('predictions_in_db'):,} predictions "
            f"in the database). Django test Client in-process, {hist.get('n_requests')} "
            "requests per case after 3 warm-up.",
            "",
            "| case | url | status | p50 ms | p95 ms | Python CPU p50 ms | SQL queries | SQL ms "
            "| slowest query ms |",
            "| --- | --- | :---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, c in (hist.get("cases") or {}).items():
            if not isinstance(c, dict) or "ms" not in c:
                continue
            slow = c["slowest_queries"][0]["ms"] if c.get("slowest_queries") else None
            lines.append(
                f"| {name} | `{c['url']}` | {c['status']} | {_fmt(c['ms']['p50'])} | "
                f"{_fmt(c['ms']['p95'])} | {_fmt(_get(c, 'python_cpu_ms', 'p50'))} | "
                f"{c['queries']} | {_fmt(c['query_ms_total'])} "
                f"| {_fmt(slow)} |"
            )
        for kind, v in (_get(hist, "cases", "n_plus_one_check") or {}).items():
            detail = ", ".join(f"{k} = {x}" for k, x in v.items() if k != "n_plus_one")
            lines.append(f"\n- N+1 check ({kind}): {detail}; N+1: {_fmt(v.get('n_plus_one'))}.")
        for name, trial in (hist.get("index_trials") or {}).items():
            lines += [
                "",
                f"Index trial `{name}` (bench database only): `{trial['sql']}`",
                "",
                "| case | p50 before | p50 after | p95 before | p95 after | slowest SQL "
                "before -> after ms (min of 6 EXPLAIN ANALYZE) |",
                "| --- | ---: | ---: | ---: | ---: | ---: |",
            ]
            for case, r in trial["cases"].items():
                lines.append(
                    f"| {case} | {_fmt(r['before_ms']['p50'])} | {_fmt(r['after_ms']['p50'])} | "
                    f"{_fmt(r['before_ms']['p95'])} | {_fmt(r['after_ms']['p95'])} | "
                    f"{_fmt(r.get('sql_min_ms_before'))} -> "
                    f"{_fmt(r.get('sql_min_ms_after'))} |"
                )
        for name, prof in (hist.get("profiles") or {}).items():
            lines += [
                "",
                f"<details><summary>cProfile, 5 x {name}</summary>",
                "",
                "```",
                prof.strip()[:6000],
                "```",
                "</details>",
            ]
        for name, plan in (hist.get("explain") or {}).items():
            lines += [
                "",
                f"<details><summary>EXPLAIN ANALYZE: {name}</summary>",
                "",
                "```",
                plan[:8000],
                "```",
                "</details>",
            ]

    mem = sections.get("memory")
    if mem:
        lines += [
            "",
            "## 5. Memory over predictions",
            "",
            f"{mem.get('predictions')} predictions through the API (RSS sampled every "
            f"{mem.get('every')}); Celery child RSS first "
            f"{_fmt(mem.get('celery_child_rss_mb_first'))} MB "
            f"-> last {_fmt(mem.get('celery_child_rss_mb_last'))} MB (growth "
            f"{_fmt(mem.get('celery_child_rss_growth_mb'))} MB, allowed "
            f"{_fmt(mem.get('growth_allowed_mb'))}); child peak (VmHWM) "
            f"{_fmt(mem.get('celery_child_hwm_mb'))} MB; Celery main "
            f"{_fmt(mem.get('celery_main_rss_mb'))} MB; gunicorn worker "
            f"{_fmt(mem.get('web_worker_rss_mb_first'))} -> "
            f"{_fmt(mem.get('web_worker_rss_mb_last'))} MB (peak "
            f"{_fmt(mem.get('web_worker_hwm_mb'))} MB).",
            "",
            "| predictions | celery children RSS MB | gunicorn workers RSS MB |",
            "| ---: | --- | --- |",
        ]
        for s in mem.get("samples") or []:
            cc = ", ".join(_fmt(v["rss_mb"]) for v in s["celery_children"].values())
            ww = ", ".join(_fmt(v["rss_mb"]) for v in s["web_workers"].values())
            lines.append(f"| {s['predictions']} | {cc} | {ww} |")
    lines.append("")
    return "\n".join(lines)


def plot_render(*, results: dict[str, Any], path: Path) -> None:
    """Write the PNG: stage p50/p95, baseline vs ours, RSS over predictions, history p95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections, summary = results["sections"], results["summary"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0][0]
    model = sections.get("model")
    if model:
        p50 = [_num(_get(model, "stages_ms", s, "p50")) or 0.0 for s in STAGES]
        p95 = [_num(_get(model, "stages_ms", s, "p95")) or 0.0 for s in STAGES]
        x = range(len(STAGES))
        ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
        ax.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
        ax.set_xticks(list(x), STAGES)
        ax.set_ylabel("ms")
        ax.legend()
    ax.set_title("Model path per stage (batch 1)")

    ax = axes[0][1]
    bars = [
        ("baseline\nVGG16 predict", summary.get("baseline_ms_p50")),
        ("ours full", summary.get("full_ms_p50")),
        ("ours classify", summary.get("classify_ms_p50")),
    ]
    bars = [(k, v) for k, v in bars if v]
    if bars:
        ax.bar([k for k, _ in bars], [v for _, v in bars], color=["grey", "C0", "C2"][: len(bars)])
        ax.set_yscale("log")
        ax.set_ylabel("ms per image, p50 (log)")
        for i, (_, v) in enumerate(bars):
            ax.annotate(f"{v:.1f}", (i, v), ha="center", va="bottom")
    speed = summary.get("speedup_vs_baseline")
    ax.set_title(f"Baseline vs ours{f' ({speed:.0f}x)' if speed else ''}")

    ax = axes[1][0]
    mem = sections.get("memory")
    if mem and mem.get("samples"):
        xs = [s["predictions"] for s in mem["samples"]]
        child = [
            max((v["rss_mb"] for v in s["celery_children"].values()), default=math.nan)
            for s in mem["samples"]
        ]
        web = [
            max((v["rss_mb"] for v in s["web_workers"].values()), default=math.nan)
            for s in mem["samples"]
        ]
        ax.plot(xs, child, marker="o", label="Celery child (max)")
        ax.plot(xs, web, marker="s", label="gunicorn worker (max)")
        ax.axhline(1536, color="red", linestyle="--", label="1.5 GB target")
        ax.set_xlabel("predictions")
        ax.set_ylabel("RSS MB")
        ax.set_ylim(bottom=0)
        ax.legend(loc=(0.02, 0.55))
    ax.set_title("RSS over predictions")

    ax = axes[1][1]
    hist = sections.get("history")
    if hist:
        cases = {k: v for k, v in hist["cases"].items() if isinstance(v, dict) and "ms" in v}
        ax.barh(list(cases), [v["ms"]["p95"] for v in cases.values()])
        ax.axvline(100, color="red", linestyle="--", label="100 ms target")
        ax.set_xlabel("p95 ms")
        ax.legend()
    ax.set_title("History / API list p95 at scale")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report_write(
    *,
    results: dict[str, Any],
    out_dir: Path,
    notes_path: Path | None = None,
    plot: bool = True,
) -> dict[str, Path]:
    """Recompute the summary and write results.json, RESULTS.md and results.png to `out_dir`."""
    results["summary"] = summary_compute(sections=results.get("sections", {}))
    flat = {**results["summary"], "machine": results["machine"], "sections": results["sections"]}
    paths = {
        "json": out_dir / "results.json",
        "md": out_dir / "RESULTS.md",
        "png": out_dir / "results.png",
    }
    json_write(path=paths["json"], data=flat)
    notes = notes_path.read_text() if notes_path and notes_path.is_file() else None
    paths["md"].write_text(markdown_render(results=results, notes=notes))
    if plot:
        plot_render(results=results, path=paths["png"])
    return paths


def results_load(*, path: Path) -> dict[str, Any]:
    """Read an earlier results.json back into {machine, sections} (for merging runs)."""
    import json

    if not path.is_file():
        return {"machine": {}, "sections": {}}
    data = json.loads(path.read_text())
    return {"machine": data.get("machine", {}), "sections": data.get("sections", {})}
