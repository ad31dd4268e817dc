"""results.png: stage latency, baseline vs ours, RSS over predictions, history p95 at scale."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.targets import STAGES, number_or_none, target_limit, value_get


def _stages_draw(*, ax: Any, model: dict[str, Any] | None) -> None:
    if model:
        p50 = [number_or_none(value_get(model, "stages_ms", s, "p50")) or 0.0 for s in STAGES]
        p95 = [number_or_none(value_get(model, "stages_ms", s, "p95")) or 0.0 for s in STAGES]
        x = range(len(STAGES))
        ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
        ax.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
        ax.set_xticks(list(x), STAGES)
        ax.set_ylabel("ms")
        ax.legend()
    ax.set_title("Model path per stage (batch 1)")


def _baseline_draw(*, ax: Any, summary: dict[str, Any]) -> None:
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


def _memory_draw(*, ax: Any, mem: dict[str, Any] | None) -> None:
    if mem and mem.get("samples"):
        samples = mem["samples"]
        xs = [s["predictions"] for s in samples]
        for key, marker, label in (
            ("celery_children", "o", "Celery child (max)"),
            ("web_workers", "s", "gunicorn worker (max)"),
        ):
            ys = [max((v["rss_mb"] for v in s[key].values()), default=math.nan) for s in samples]
            ax.plot(xs, ys, marker=marker, label=label)
        limit = target_limit(key="worker_rss_mb")
        ax.axhline(limit, color="red", linestyle="--", label=f"{limit / 1024:g} GB target")
        ax.set_xlabel("predictions")
        ax.set_ylabel("RSS MB")
        ax.set_ylim(bottom=0)
        ax.legend(loc=(0.02, 0.55))
    ax.set_title("RSS over predictions")


def _history_draw(*, ax: Any, hist: dict[str, Any] | None) -> None:
    if hist:
        cases = {k: v for k, v in hist["cases"].items() if isinstance(v, dict) and "ms" in v}
        ax.barh(list(cases), [v["ms"]["p95"] for v in cases.values()])
        limit = target_limit(key="history_ms_p95_100k")
        ax.axvline(limit, color="red", linestyle="--", label=f"{limit:g} ms target")
        ax.set_xlabel("p95 ms")
        ax.legend()
    ax.set_title("History / API list p95 at scale")


def plot_render(*, results: dict[str, Any], path: Path) -> None:
    """Write the PNG: stage p50/p95, baseline vs ours, RSS over predictions, history p95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = results["sections"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _stages_draw(ax=axes[0][0], model=sections.get("model"))
    _baseline_draw(ax=axes[0][1], summary=results["summary"])
    _memory_draw(ax=axes[1][0], mem=sections.get("memory"))
    _history_draw(ax=axes[1][1], hist=sections.get("history"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
