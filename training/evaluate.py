"""Evaluate a saved model on a labelled CSV (and the gate on negatives); write a report."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.data import get_testdata_file
from tqdm import tqdm

from mlcore.errors import ImageError
from mlcore.gate import gate_rules_check
from mlcore.labels import LABELS
from mlcore.preprocess import grey_channels_merge, radiograph_preprocess
from mlcore.testing.arrays import negative_samples, tiny_image
from training.data import hash_split, label_indices, table_filter, table_read
from training.metrics import metrics_compute


@dataclass
class Screened:
    """Batch outputs for a list of images: gate verdicts plus calibrated probabilities."""

    accepted: np.ndarray  # (N,) bool
    reasons: list[str | None]
    probs: np.ndarray  # (N, 3); NaN rows for unreadable files
    rule_refused: np.ndarray  # (N,) bool: refused by the cheap rules
    maha_refused: np.ndarray  # (N,) bool: feature distance above threshold (never saw ood)
    cams: list[np.ndarray | None]  # predicted-class Grad-CAM per item; None if unreadable


def items_screen(*, screener: Any, items: list[tuple[Any, ...]], desc: str) -> Screened:
    """Gate + classify decoded items (pixels, is_colour, dicom) in batches of 32."""
    size = screener.classifier.input_size
    n = len(items)
    accepted = np.zeros(n, bool)
    reasons: list[str | None] = [None] * n
    probs = np.full((n, 3), np.nan, np.float32)
    maha_refused = np.zeros(n, bool)
    cams: list[np.ndarray | None] = [None] * n
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        out = screener.classifier.run(batch=np.stack([a for _, a in pending]))
        for j, (i, _) in enumerate(pending):
            decision = screener.gate_learned_check(
                gate_probabilities=out.gate_probabilities[j], features=out.features[j]
            )
            accepted[i], reasons[i] = decision.accepted, decision.reason
            maha_refused[i] = (
                decision.scores["mahalanobis_sq"] > screener.thresholds.mahalanobis_max
            )
            probs[i] = out.probabilities[j]
            cams[i] = out.cams[j, :, :, int(out.probabilities[j].argmax())]
        pending.clear()

    for i, (pixels, is_colour, dicom) in enumerate(tqdm(items, desc=desc, unit="img")):
        if pixels is None:
            reasons[i] = "unreadable"
            continue
        px = grey_channels_merge(pixels=pixels, is_colour=is_colour)
        rules = gate_rules_check(pixels=px, thresholds=screener.thresholds, dicom=dicom)
        if not rules.accepted:
            reasons[i] = rules.reason
        # Classify even what the rules refused: metrics need probabilities for every row.
        pending.append((i, radiograph_preprocess(pixels=px, size=size).array))
        if len(pending) >= 32:
            flush()
    rule_reasons = list(reasons)
    flush()
    for i, r in enumerate(rule_reasons):
        if r is not None:
            accepted[i], reasons[i] = False, r
    rule_refused = np.array([r is not None for r in rule_reasons])
    return Screened(accepted, reasons, probs, rule_refused, maha_refused, cams)


def heatmaps_write(
    *,
    screener: Any,
    items: list[tuple[Any, ...]],
    cams: np.ndarray,
    probs: np.ndarray,
    sources: list[str],
    labels: list[str],
    path: Path,
) -> dict[str, Any]:
    """Band-mass figures per source from the screening pass's maps, and a gallery PNG."""
    from training.heatmaps import cam_band_report, gallery_pick, heatmap_gallery_plot

    size = screener.classifier.input_size
    rows = gallery_pick(sources=sources, labels=labels)
    # Only the gallery's images are preprocessed again, to draw under their maps.
    shown = sorted({i for _, idx in rows for i in idx})
    arrays = np.zeros((len(items), size, size), np.float32)
    for i in shown:
        px, is_colour, _ = items[i]
        pixels = grey_channels_merge(pixels=px, is_colour=is_colour)
        arrays[i] = radiograph_preprocess(pixels=pixels, size=size).array
    pred = probs.argmax(axis=1)
    titles = [f"{LABELS[k][:5]} {probs[i, k]:.2f}" for i, k in enumerate(pred)]
    heatmap_gallery_plot(arrays=arrays, cams=cams, titles=titles, rows=rows, path=path)
    return {**cam_band_report(cams=cams, sources=sources), "gallery": path.name}


def file_decode(*, path: Path) -> tuple[Any, ...]:
    """(pixels, is_colour, dicom) of a file via mlcore.imageio; (None, None, None) if bad."""
    from mlcore.imageio import image_decode

    try:
        img = image_decode(data=path.read_bytes())
    except (ImageError, OSError):
        return (None, None, None)
    return (img.pixels, img.is_colour, img.dicom)


def negatives_collect(
    *, ood: Path | None, seed: int = 7
) -> tuple[list[tuple], list[str], list[str]]:
    """Negative items + kind + group ('ood-heldout', 'ood-train', 'synthetic', 'dicom')."""
    items, kinds, groups = [], [], []
    if ood is not None and (ood / "metadata.csv").is_file():
        t = table_read(root=ood)
        for r in tqdm(t.rows, desc="ood decode", unit="img"):
            items.append(file_decode(path=ood / r["file"]))
            kinds.append(f"{r.get('kind', 'ood')}/{r.get('source', '')}")
            split = hash_split(key=r["file"])
            groups.append("ood-heldout" if split == "test" else f"ood-{split}")
    for kind, pixels in negative_samples(n=60, seed=seed, size=(320, 256)):
        items.append((pixels, pixels.ndim == 3, {}))
        kinds.append(f"synthetic/{kind}")
        groups.append("synthetic")
    for i in range(4):
        items.append((tiny_image(size=(24 + 8 * i, 32), seed=i), False, {}))
        kinds.append("synthetic/tiny")
        groups.append("synthetic")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        p = get_testdata_file(name)
        if p:
            items.append(file_decode(path=Path(p)))
            kinds.append(f"dicom/{name}")
            groups.append("dicom")
    return items, kinds, groups


def gate_negatives_report(*, screener: Any, ood: Path | None) -> dict[str, Any]:
    """Refuse rates on negatives, overall, by group and by kind."""
    items, kinds, groups = negatives_collect(ood=ood)
    if not items:
        return {}
    s = items_screen(screener=screener, items=items, desc="gate negatives")
    refused = ~s.accepted
    by_group = {
        g: {
            "n": int(sum(1 for x in groups if x == g)),
            "refused": float(refused[np.array(groups) == g].mean()),
        }
        for g in sorted(set(groups))
    }
    by_kind = {k: float(refused[np.array(kinds) == k].mean()) for k in sorted(set(kinds))}
    held = np.array([g != "ood-train" and g != "ood-val" for g in groups])
    # Rules + feature distance never saw a negative: a fair figure for unseen kinds.
    unseen = s.rule_refused | s.maha_refused
    kinds_arr = np.array(kinds)
    return {
        "n": len(items),
        "refused_all": float(refused.mean()),
        "refused_excluding_gate_training_part": float(refused[held].mean()) if held.any() else None,
        "by_group": by_group,
        "by_kind": by_kind,
        "refused_by_rules_or_distance_only_by_kind": {
            k: float(unseen[kinds_arr == k].mean()) for k in sorted(set(kinds))
        },
        "reasons": dict(Counter(str(r) for r in s.reasons)),
    }


def _f(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


METRIC_KEYS = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "macro_auc",
    "ece",
    "nll",
    "covid_sensitivity_at_95_specificity",
)


def _metrics_lines(report: dict[str, Any]) -> list[str]:
    lines = ["| metric | value |", "| --- | ---: |"]
    lines += [f"| {k} | {_f(report.get(k))} |" for k in METRIC_KEYS]
    cohen = report.get("covid_vs_rest_auc_within_source", {}).get("cohen")
    lines.append(f"| covid-vs-rest AUC within cohen | {_f(cohen)} |")
    return lines


def _per_class_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Per class",
        "",
        "| class | n | sensitivity | specificity | PPV | AUC |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c, m in report["per_class"].items():
        lines.append(
            f"| {c} | {m['n']} | {_f(m['sensitivity'])} | {_f(m['specificity'])} "
            f"| {_f(m['ppv'])} | {_f(m['auc'])} |"
        )
    lines += [
        "",
        "## Per source",
        "",
        "| source | n | accuracy | covid-vs-rest AUC |",
        "| --- | ---: | ---: | ---: |",
    ]
    for s, m in report.get("per_source", {}).items():
        auc = report.get("covid_vs_rest_auc_within_source", {}).get(s)
        lines.append(f"| {s} | {m['n']} | {_f(m['accuracy'])} | {_f(auc)} |")
    return lines


def _gate_lines(report: dict[str, Any]) -> list[str]:
    g = report["gate"]
    lines = [
        "",
        "## Gate",
        "",
        f"Accepted {g['accepted']} / rejected {g['rejected']} of the "
        f"evaluated radiographs (reasons: {g.get('reasons', {})}).",
    ]
    neg = report.get("gate_negatives")
    if neg:
        lines += [
            "",
            f"Negatives: refused {_f(neg['refused_all'])} of {neg['n']} "
            "(excluding the gate's training part: "
            f"{_f(neg['refused_excluding_gate_training_part'])}).",
            "",
            "| group | n | refused |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {k} | {v['n']} | {_f(v['refused'])} |" for k, v in neg["by_group"].items()]
    return lines


def _heatmap_lines(report: dict[str, Any]) -> list[str]:
    hm = report.get("heatmaps")
    if not hm:
        return []
    return [
        "",
        "## Where the model looks",
        "",
        f"Share of the predicted class's Grad-CAM mass in the outer {hm['band']:.0%} band of "
        f"the image (the band is {_f(hm['band_area_fraction'])} of the area; text, markers "
        "and borders sit there, lungs mostly do not). Gallery: heatmaps.png.",
        "",
        "| source | band share |",
        "| --- | ---: |",
        f"| all | {_f(hm['all'])} |",
        *(f"| {k} | {_f(v)} |" for k, v in hm["by_source"].items()),
    ]


def report_markdown(*, report: dict[str, Any]) -> str:
    """Return a short human-readable summary of report.json."""
    lines = [
        f"# Evaluation: {report['model']} on {report['data']} ({report.get('split') or 'all'})",
        "",
        "Educational model; source bias means these figures overstate real-world performance.",
        "",
        *_metrics_lines(report),
        *_per_class_lines(report),
        *_gate_lines(report),
        *_heatmap_lines(report),
        "",
        "Plots: confusion_matrix.png, roc.png, reliability.png, heatmaps.png",
        "",
    ]
    return "\n".join(lines)


def gate_summarise(
    *, screened: Screened, labels: np.ndarray, readable: np.ndarray
) -> dict[str, Any]:
    """Return the gate's verdicts and the metrics on what it accepted."""
    s = screened
    out: dict[str, Any] = {
        "gate": {
            "accepted": int(s.accepted.sum()),
            "rejected": int((~s.accepted).sum()),
            "accept_rate": float(s.accepted.mean()),
            "reasons": dict(
                Counter(str(r) for r, a in zip(s.reasons, s.accepted, strict=True) if not a)
            ),
        }
    }
    acc_keep = np.flatnonzero(s.accepted & readable)
    if len(acc_keep):
        sub = metrics_compute(probs=s.probs[acc_keep], labels=labels[acc_keep])
        out["accepted_only"] = {
            k: sub[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_auc")
        }
    return out


def evaluate_run(
    *,
    model: str | None,
    weights_dir: Path | None,
    data: Path,
    csv_path: Path | None,
    split: str | None,
    report_dir: Path,
    ood: Path | None = None,
) -> dict[str, Any]:
    """Evaluate and write report.json, report.md and plots into `report_dir`."""
    from mlcore.pipeline import Screener
    from training.plots import confusion_plot, reliability_plot, roc_plot

    screener = Screener.load(name=model, weights_dir=weights_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    table = table_filter(table=table_read(root=data, csv_path=csv_path), split=split)
    if not table.rows:
        raise SystemExit(f"no rows to evaluate (split={split!r})")
    items = [
        file_decode(path=data / r["file"]) for r in tqdm(table.rows, desc="decode", unit="img")
    ]
    s = items_screen(screener=screener, items=items, desc="screen")
    readable = ~np.isnan(s.probs).any(axis=1)
    labels = label_indices(labels=[r["label"] for r in table.rows])
    sources = [r.get("source") or "all" for r in table.rows]
    keep = np.flatnonzero(readable)
    report: dict[str, Any] = {
        "model": f"{screener.card.name}@{screener.card.version}",
        "data": str(data),
        "csv": str(csv_path) if csv_path else "metadata.csv",
        "split": split,
        "unreadable": int((~readable).sum()),
        **metrics_compute(
            probs=s.probs[keep], labels=labels[keep], sources=[sources[i] for i in keep]
        ),
    }
    report.update(gate_summarise(screened=s, labels=labels, readable=readable))
    if len(keep):
        report["heatmaps"] = heatmaps_write(
            screener=screener,
            items=[items[i] for i in keep],
            cams=np.stack([s.cams[i] for i in keep]),
            probs=s.probs[keep],
            sources=[sources[i] for i in keep],
            labels=[table.rows[i]["label"] for i in keep],
            path=report_dir / "heatmaps.png",
        )
    if ood is not None:
        report["gate_negatives"] = gate_negatives_report(screener=screener, ood=ood)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (report_dir / "report.md").write_text(report_markdown(report=report), encoding="utf-8")
    cm = np.array(report["confusion_matrix"]["rows_true_cols_pred"])
    confusion_plot(cm=cm, path=report_dir / "confusion_matrix.png")
    roc_plot(probs=s.probs[keep], labels=labels[keep], path=report_dir / "roc.png")
    reliability_plot(probs=s.probs[keep], labels=labels[keep], path=report_dir / "reliability.png")
    return report


__all__ = ["evaluate_run", "items_screen"]
