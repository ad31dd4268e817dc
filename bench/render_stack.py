"""RESULTS.md sections 3 and 4: the pipeline through the real stack, the history at scale."""

from __future__ import annotations

from typing import Any

from bench.render import details_lines, fmt, template_render
from bench.targets import sustained_load_text, value_get

BREAKDOWN_PARTS = {
    "web_ms": "web: request start -> prediction row created",
    "enqueue_ms": "created -> enqueued (on_commit publish)",
    "queue_ms": "created -> task started (broker + pick-up)",
    "task_ms": "task started -> finished",
    "poll_lag_ms": "finished -> client saw final (polling)",
}


def _breakdown_table(b: dict[str, Any] | None) -> list[str]:
    if not b:
        return []
    lines = ["| part | p50 ms | p95 ms |", "| --- | ---: | ---: |"]
    for key, name in BREAKDOWN_PARTS.items():
        s = b.get(key) or {}
        if s.get("n"):
            lines.append(f"| {name} | {fmt(s.get('p50'))} | {fmt(s.get('p95'))} |")
    for stage, s in (b.get("task_stages_ms") or {}).items():
        lines.append(f"| task stage `{stage}` | {fmt(s.get('p50'))} | {fmt(s.get('p95'))} |")
    return lines


def _cpu_lines(cpu: dict[str, Any] | None) -> list[str]:
    return template_render(name="cpu", data=cpu) if cpu else []


def _in_process_lines(inproc: dict[str, Any]) -> list[str]:
    if not inproc:
        return []
    lines = template_render(name="in_process", data=inproc)
    for key in ("submit_profile", "poll_profile"):
        if inproc.get(key):
            text = inproc[key].strip()[:7000]
            lines += details_lines(summary=f"cProfile: {key}", text=text)
    return lines


def pipeline_render(*, pipe: dict[str, Any]) -> list[str]:
    """Return section 3: low-load latency, sustained throughput, where the time goes."""
    low, sus = pipe.get("low_load") or {}, pipe.get("sustained") or {}
    lines = [
        *template_render(name="pipeline", data=pipe),
        "",
        *template_render(name="low_load", data=low),
        "",
        *_breakdown_table(low.get("breakdown")),
        "",
        *template_render(
            name="sustained", data={**sus, "load": sustained_load_text(sustained=sus)}
        ),
        "",
        *_breakdown_table(sus.get("breakdown")),
        *_cpu_lines(sus.get("cpu")),
        *_in_process_lines(pipe.get("in_process") or {}),
    ]
    if pipe.get("breakdown_error"):
        lines.append(f"\nBreakdown unavailable: `{pipe['breakdown_error']}`")
    return lines


def _cases_table(cases: dict[str, Any]) -> list[str]:
    lines = [
        "| case | url | status | p50 ms | p95 ms | Python CPU p50 ms | SQL queries | SQL ms "
        "| slowest query ms |",
        "| --- | --- | :---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in cases.items():
        if not isinstance(c, dict) or "ms" not in c:
            continue
        slow = c["slowest_queries"][0]["ms"] if c.get("slowest_queries") else None
        lines.append(
            f"| {name} | `{c['url']}` | {c['status']} | {fmt(c['ms']['p50'])} | "
            f"{fmt(c['ms']['p95'])} | {fmt(value_get(c, 'python_cpu_ms', 'p50'))} | "
            f"{c['queries']} | {fmt(c['query_ms_total'])} "
            f"| {fmt(slow)} |"
        )
    for kind, v in (cases.get("n_plus_one_check") or {}).items():
        detail = ", ".join(f"{k} = {x}" for k, x in v.items() if k != "n_plus_one")
        lines.append(f"\n- N+1 check ({kind}): {detail}; N+1: {fmt(v.get('n_plus_one'))}.")
    return lines


def _trial_lines(*, name: str, trial: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Index trial `{name}` (bench database only): `{trial['sql']}`",
        "",
        "| case | p50 before | p50 after | p95 before | p95 after | slowest SQL "
        "before -> after ms (min of 6 EXPLAIN ANALYZE) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, r in trial["cases"].items():
        lines.append(
            f"| {case} | {fmt(r['before_ms']['p50'])} | {fmt(r['after_ms']['p50'])} | "
            f"{fmt(r['before_ms']['p95'])} | {fmt(r['after_ms']['p95'])} | "
            f"{fmt(r.get('sql_min_ms_before'))} -> "
            f"{fmt(r.get('sql_min_ms_after'))} |"
        )
    return lines


def history_render(*, hist: dict[str, Any]) -> list[str]:
    """Return section 4: page and API times at scale, index trials, profiles and plans."""
    lines = [
        *template_render(name="history", data=hist),
        "",
        *_cases_table(hist.get("cases") or {}),
    ]
    for name, trial in (hist.get("index_trials") or {}).items():
        lines += _trial_lines(name=name, trial=trial)
    for name, prof in (hist.get("profiles") or {}).items():
        lines += details_lines(summary=f"cProfile, 5 x {name}", text=prof.strip()[:6000])
    for name, plan in (hist.get("explain") or {}).items():
        lines += details_lines(summary=f"EXPLAIN ANALYZE: {name}", text=plan[:8000])
    return lines
