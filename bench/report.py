"""Write a run's figures: results.json with its headline keys, RESULTS.md and results.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import json_write
from bench.pacs import pacs_render
from bench.render import (
    baseline_render,
    diagnosis_lines,
    head_render,
    memory_render,
    model_render,
    targets_render,
)
from bench.render_stack import history_render, pipeline_render
from bench.shadow import shadow_render
from bench.targets import summary_compute


def markdown_render(*, results: dict[str, Any], notes: str | None = None) -> str:
    """Return RESULTS.md: the target table, then each section's details."""
    sections, summary = results["sections"], results["summary"]
    lines = [
        *head_render(machine=results["machine"]),
        *targets_render(summary=summary, sections=sections),
    ]
    diag = diagnosis_lines(summary=summary, sections=sections)
    if diag:
        lines += ["", "## Misses (automatic pointers)", "", *diag]
    if notes:
        lines += ["", "## Analysis and fixes", "", notes.strip()]
    renderers = {
        "model": lambda s: model_render(model=s),
        "baseline": lambda s: baseline_render(base=s, summary=summary, sections=sections),
        "pipeline": lambda s: pipeline_render(pipe=s),
        "history": lambda s: history_render(hist=s),
        "memory": lambda s: memory_render(mem=s),
        "pacs": lambda s: pacs_render(pacs=s),
        "shadow": lambda s: shadow_render(shadow=s),
    }
    for name, render in renderers.items():
        if sections.get(name):
            lines += render(sections[name])
    lines.append("")
    return "\n".join(lines)


def report_write(
    *,
    results: dict[str, Any],
    out_dir: Path,
    notes_path: Path | None = None,
    plot: bool = True,
) -> dict[str, Path]:
    """Recompute the summary and write results.json, RESULTS.md and results.png to `out_dir`."""
    from bench.plot import plot_render

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
    if not path.is_file():
        return {"machine": {}, "sections": {}}
    data = json.loads(path.read_text())
    return {"machine": data.get("machine", {}), "sections": data.get("sections", {})}
