"""Write an evaluation: report.json, report.md (small per-section renderers) and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.labels import LABELS

HEADLINE_NAMES = {
    "siim_typical_vs_negative_auc": "SIIM typical vs negative AUC (p covid)",
    "siim_opacity_vs_negative_auc": "SIIM any opacity vs negative AUC (1 - p normal)",
    "siim_typical_vs_atypical_auc": "SIIM typical vs atypical AUC (p covid)",
    "cohen_covid_vs_rest_auc": "Cohen covid vs rest AUC",
    "cxr_macro_auc": "cxr 3-class macro AUC",
    "cxr_ece": "ECE, cxr",
    "siim_ece": "ECE, SIIM (labelled films)",
}


def _f(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, list | tuple):
        return "-".join(_f(x) for x in v)
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def headline_section(*, report: dict) -> list[str]:
    h, masked = report["headline"], report["shortcut"]["masked"]
    lines = [
        "## Inside-source figures",
        "",
        "| figure | as given | outer band masked |",
        "| --- | ---: | ---: |",
    ]
    for key, name in HEADLINE_NAMES.items():
        lines.append(f"| {name} | {_f(h.get(key))} | {_f(masked.get(key))} |")
    ci = h.get("cohen_covid_vs_rest_auc_ci95")
    lines += ["", f"Cohen covid-vs-rest bootstrap 95 % interval: {_f(ci)}.", ""]
    return [*lines, *contributor_section(check=report.get("contributor"))]


def contributor_section(*, check: dict | None) -> list[str]:
    if not check:
        return []
    return [
        f"Who published the film ({check['source']}, by {check['key']}): the {check['key']} "
        f"alone scores covid vs rest at AUC {_f(check['key_only_auc'])} (the training split's "
        f"covid share per {check['key']}); the model {_f(check['auc'])} over all "
        f"{check['pairs']} pairs and {_f(check['auc_within_key'])} over the "
        f"{check['pairs_within']} pairs that share a {check['key']}.",
        "",
    ]


def per_class_section(*, name: str, m: dict) -> list[str]:
    lines = [
        f"## {name}: 3 classes ({m['n']} films)",
        "",
        f"Accuracy {_f(m['accuracy'])}, balanced accuracy {_f(m['balanced_accuracy'])}, "
        f"macro AUC {_f(m['macro_auc'])}, ECE {_f(m['ece'])}.",
        "",
        "| class | n | sensitivity | specificity | AUC |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for c, v in m["per_class"].items():
        lines.append(
            f"| {c} | {v['n']} | {_f(v['sensitivity'])} | {_f(v['specificity'])} | {_f(v['auc'])} |"
        )
    lines += ["", "| source | n | accuracy |", "| --- | ---: | ---: |"]
    for s, v in m.get("per_source", {}).items():
        lines.append(f"| {s} | {v['n']} | {_f(v['accuracy'])} |")
    return [*lines, ""]


def evidence_section(*, report: dict) -> list[str]:
    lungs = report["shortcut"]["cam_outside_lungs"]
    band = report.get("heatmaps", {})
    lines = [
        "## Where the evidence sits",
        "",
        "Share of the predicted class's Grad-CAM mass outside a fixed lung-field atlas "
        f"(a uniform map: {_f(lungs['uniform_map'])}) and in the outer 10 % band "
        f"(a uniform map: {_f(band.get('band_area_fraction'))}).",
        "",
        "| source | outside lungs | outer band |",
        "| --- | ---: | ---: |",
    ]
    for s, v in lungs["by_source"].items():
        lines.append(f"| {s} | {_f(v)} | {_f(band.get('by_source', {}).get(s))} |")
    return [*lines, ""]


def gate_section(*, report: dict) -> list[str]:
    g = report["gate"]
    lines = [
        "## Input gate",
        "",
        f"Chest films accepted: {_f(g['accept_rate'])} of {g['n']}.",
        "",
        "| set | n | accepted |",
        "| --- | ---: | ---: |",
    ]
    for k, v in g["by_set"].items():
        lines.append(f"| {k} | {v['n']} | {_f(v['accept_rate'])} |")
    lines += ["", f"Refusal reasons: {g['refusal_reasons']}.", ""]
    neg = report.get("gate_negatives")
    if neg:
        lines += [
            f"Negatives refused: {_f(neg['refused_all'])} of {neg['n']}.",
            "",
            "| group | n | refused |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {k} | {v['n']} | {_f(v['refused'])} |" for k, v in neg["by_group"].items()]
    return [*lines, ""]


def report_markdown(*, report: dict[str, Any]) -> str:
    """Render report.json as Markdown."""
    lines = [
        f"# Evaluation: {report['model']} on {', '.join(report['data'])} "
        f"({report.get('split') or 'all'})",
        "",
        "Educational model, not a diagnostic device. Judge it inside one source first.",
        "",
    ]
    lines += headline_section(report=report)
    for key, name in (("cxr", "cxr"), ("siim", "SIIM")):
        if key in report:
            lines += per_class_section(name=name, m=report[key])
    lines += evidence_section(report=report) + gate_section(report=report)
    lines += ["Plots: confusion_matrix.png, roc.png, reliability.png, heatmaps.png", ""]
    return "\n".join(lines)


def report_write(
    *, report: dict[str, Any], screener: Any, screened: Any, rows: list[dict], path: Path
) -> None:
    """Add the heatmap figures to `report`, then write JSON, Markdown and plots to `path`."""
    from training.heatmaps import cam_band_report, gallery_pick, heatmap_gallery_plot
    from training.plots import confusion_plot, reliability_plot, roc_plot
    from training.shortcut import cam_upsample

    path.mkdir(parents=True, exist_ok=True)
    ok = np.flatnonzero(screened.readable)
    cams = np.stack([screened.cams[i] for i in ok])
    sources = [rows[i].get("source") or "all" for i in ok]
    grades = [rows[i].get("appearance") or rows[i].get("label") or "" for i in ok]
    probs = screened.probs[ok]
    titles = [f"{LABELS[k][:5]} {probs[j, k]:.2f}" for j, k in enumerate(probs.argmax(axis=1))]
    heatmap_gallery_plot(
        arrays=screened.arrays[ok],
        cams=cams,
        titles=titles,
        rows=gallery_pick(sources=sources, labels=grades),
        path=path / "heatmaps.png",
    )
    # At input resolution: a coarse map (4x4 for a stride-32 net) has no cell inside a 10 % band.
    size = screened.arrays.shape[1]
    fine = np.stack([cam_upsample(cam=c, size=size) for c in cams])
    report["heatmaps"] = {**cam_band_report(cams=fine, sources=sources), "gallery": "heatmaps.png"}
    (path / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (path / "report.md").write_text(report_markdown(report=report), encoding="utf-8")
    labelled = np.array([rows[i].get("label") in LABELS for i in ok])
    labels = np.array([LABELS.index(rows[i]["label"]) for i in ok[labelled]])
    if "cxr" in report:
        cm = np.array(report["cxr"]["confusion_matrix"]["rows_true_cols_pred"])
        confusion_plot(cm=cm, path=path / "confusion_matrix.png")
    roc_plot(probs=probs[labelled], labels=labels, path=path / "roc.png")
    reliability_plot(probs=probs[labelled], labels=labels, path=path / "reliability.png")
