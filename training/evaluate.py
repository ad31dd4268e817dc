"""Evaluate a saved model on one or more data sets, inside each source; write a report.

The figures that matter are judged inside one source, where the source cannot give the
answer away: SIIM typical-vs-negative and opacity-vs-negative, Cohen covid-vs-rest. The
3-class figures on the mixed `cxr` split are kept for comparison with earlier models. A
shortcut check repeats them with the image's outer band hidden and measures how much
Grad-CAM evidence falls outside the lung fields, and a contributor check asks how much of
the Cohen figure the film's publisher alone explains (training.contributor).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.labels import LABELS
from mlcore.lungs import SEGMENTER_REPORT
from training.contributor import contributor_check
from training.data import Table, table_filter, table_read
from training.distill import unlabelled_rows_split
from training.gatereport import gate_negatives_report
from training.metrics import auc_bootstrap_interval, metrics_compute, siim_figures
from training.screenpass import Screened, file_decode, items_screen, probs_of_arrays
from training.shortcut import band_masked, cam_outside_lungs, outside_lungs_report
from training.trainset import INDETERMINATE, tables_read


class EvaluationError(ValueError):
    """The evaluation has nothing to work on."""


def rows_scored(*, table: Table) -> Table:
    """Keep rows with a class or a SIIM grade (indeterminate films count for opacity)."""
    keep = [r for r in table.rows if r.get("label") in LABELS or r.get("appearance")]
    return Table(root=table.root, rows=keep)


def figures_compute(*, probs: np.ndarray, rows: list[dict]) -> dict[str, Any]:
    """3-class figures on labelled non-SIIM rows, inside-source figures, ECE per set."""
    src = np.array([r.get("source") or "all" for r in rows])
    labelled = np.array([r.get("label") in LABELS for r in rows])
    out: dict[str, Any] = {**siim_figures(probs=probs, rows=rows)}
    for name, mask in (("cxr", labelled & (src != "siim")), ("siim", labelled & (src == "siim"))):
        if not mask.any():
            continue
        labels = np.array([LABELS.index(r["label"]) for r in np.array(rows)[mask]])
        m = metrics_compute(probs=probs[mask], labels=labels, sources=list(src[mask]))
        out[name] = m
    cohen = labelled & (src == "cohen")
    if cohen.any():
        y = np.array([r["label"] == "covid" for r in np.array(rows)[cohen]])
        out["cohen_covid_vs_rest_auc"] = out["cxr"]["covid_vs_rest_auc_within_source"]["cohen"]
        out["cohen_covid_vs_rest_auc_ci95"] = auc_bootstrap_interval(y=y, score=probs[cohen, 0])
        out["cohen_n"] = int(cohen.sum())
    return out


def headline(*, figures: dict[str, Any]) -> dict[str, Any]:
    """The handful of figures the card, the About page and the README quote."""
    cxr, siim = figures.get("cxr", {}), figures.get("siim", {})
    return {
        "siim_typical_vs_negative_auc": figures.get("siim_typical_vs_negative_auc"),
        "siim_opacity_vs_negative_auc": figures.get("siim_opacity_vs_negative_auc"),
        "siim_typical_vs_atypical_auc": figures.get("siim_typical_vs_atypical_auc"),
        "cohen_covid_vs_rest_auc": figures.get("cohen_covid_vs_rest_auc"),
        "cohen_covid_vs_rest_auc_ci95": figures.get("cohen_covid_vs_rest_auc_ci95"),
        "cxr_macro_auc": cxr.get("macro_auc"),
        "cxr_ece": cxr.get("ece"),
        "siim_ece": siim.get("ece"),
    }


def shortcut_check(*, screener: Any, screened: Screened, rows: list[dict]) -> dict[str, Any]:
    """Figures with the outer band hidden, and Grad-CAM mass outside the lung fields."""
    ok = np.flatnonzero(screened.readable)
    masked = np.stack(
        [band_masked(array=screened.arrays[i], content_box=screened.boxes[i]) for i in ok]
    )
    probs = probs_of_arrays(screener=screener, arrays=masked)
    size = screened.arrays.shape[1]
    shares = [
        cam_outside_lungs(cam=screened.cams[i], content_box=screened.boxes[i], size=size)
        for i in ok
    ]
    sources = [rows[i].get("source") or "all" for i in ok]
    return {
        "masked": headline(figures=figures_compute(probs=probs, rows=[rows[i] for i in ok])),
        "cam_outside_lungs": outside_lungs_report(shares=shares, sources=sources),
        "evidence_in_lungs": evidence_report(
            shares=[screened.evidence_in_lungs[i] for i in ok], sources=sources
        ),
    }


def evidence_report(*, shares: list[float | None], sources: list[str]) -> dict[str, Any] | None:
    """Grad-CAM mass inside the segmented lung fields: mean and share flagged, per source."""
    from mlcore.evidence import EVIDENCE_IN_LUNGS_MIN

    values = np.array([np.nan if s is None else s for s in shares], np.float64)
    if np.isnan(values).all():
        return None
    src = np.asarray(sources)

    def summary(m: np.ndarray) -> dict[str, Any]:
        v = values[m & ~np.isnan(values)]
        return {
            "n": len(v),
            "mean": float(v.mean()) if len(v) else None,
            "flagged": float((v < EVIDENCE_IN_LUNGS_MIN).mean()) if len(v) else None,
        }

    return {
        "flag_below": EVIDENCE_IN_LUNGS_MIN,
        "all": summary(np.ones(len(values), bool)),
        "by_source": {s: summary(src == s) for s in sorted(set(sources))},
    }


def chest_accept_report(
    *, screener: Any, screened: Screened, rows: list[dict], extra: list[Path]
) -> dict[str, Any]:
    """Accept rate of the gate on chest films: evaluated rows per source, plus extra CSVs."""
    src = np.array([r.get("source") or "all" for r in rows])
    sets = {s: (int((src == s).sum()), int(screened.accepted[src == s].sum())) for s in set(src)}
    reasons = Counter(
        str(r) for r, a in zip(screened.reasons, screened.accepted, strict=True) if not a
    )
    trained_on = set(screener.card.training.get("unlabelled", []))
    for csv_path in extra:
        table = table_read(root=csv_path.parent, csv_path=csv_path)
        key = f"{csv_path.parent.name}/{csv_path.name}"
        if key in trained_on:
            # The model trained on part of this CSV: only the unseen part is a fair check.
            table, key = unlabelled_rows_split(table=table)[1], f"{key} (held-out part)"
        items = [file_decode(path=table.root / r["file"]) for r in table.rows]
        s = items_screen(screener=screener, items=items, desc=csv_path.name)
        sets[key] = (len(items), int(s.accepted.sum()))
        reasons.update(str(r) for r, a in zip(s.reasons, s.accepted, strict=True) if not a)
    n, accepted = sum(v[0] for v in sets.values()), sum(v[1] for v in sets.values())
    return {
        "accept_rate": accepted / n if n else None,
        "n": n,
        "by_set": {k: {"n": v[0], "accept_rate": v[1] / v[0]} for k, v in sorted(sets.items())},
        "refusal_reasons": dict(reasons),
    }


def evaluate_run(
    *,
    model: str | None,
    weights_dir: Path | None,
    data: list[Path],
    split: str | None,
    report_dir: Path,
    ood: Path | None = None,
    accept_csvs: list[Path] | None = None,
    csv_path: Path | None = None,
) -> dict[str, Any]:
    """Evaluate and write report.json, report.md and plots into `report_dir`."""
    from mlcore.pipeline import Screener
    from training.report import report_write

    screener = Screener.load(name=model, weights_dir=weights_dir)
    if csv_path is not None:
        table = table_read(root=data[0], csv_path=csv_path)
        table = Table(
            root=Path(), rows=[{**r, "path": str(data[0] / r["file"])} for r in table.rows]
        )
    else:
        table = tables_read(roots=data)
    train_rows = [
        r for r in table_filter(table=table, split="train").rows if r.get("label") in LABELS
    ]
    table = rows_scored(table=table_filter(table=table, split=split))
    if not table.rows:
        raise EvaluationError(f"no rows to evaluate (split={split!r})")
    rows = table.rows
    items = [file_decode(path=Path(r["path"])) for r in tqdm(rows, desc="decode", unit="img")]
    screened = items_screen(screener=screener, items=items, desc="screen")
    ok = np.flatnonzero(screened.readable)
    figures = figures_compute(probs=screened.probs[ok], rows=[rows[i] for i in ok])
    report: dict[str, Any] = {
        "model": f"{screener.card.name}@{screener.card.version}",
        "data": [p.name for p in data],
        "split": split,
        "n": len(rows),
        "unreadable": int((~screened.readable).sum()),
        "n_indeterminate": sum(r.get("appearance") == INDETERMINATE for r in rows),
        "headline": headline(figures=figures),
        **{k: v for k, v in figures.items() if k in ("cxr", "siim")},
        "shortcut": shortcut_check(screener=screener, screened=screened, rows=rows),
        "contributor": contributor_check(
            p_covid=screened.probs[ok, 0], rows=[rows[i] for i in ok], train_rows=train_rows
        ),
        "gate": chest_accept_report(
            screener=screener, screened=screened, rows=rows, extra=accept_csvs or []
        ),
    }
    if ood is not None:
        report["gate_negatives"] = gate_negatives_report(screener=screener, ood=ood)
    report_write(report=report, screener=screener, screened=screened, rows=rows, path=report_dir)
    return report


def card_figures_update(*, model_dir: Path, report: dict[str, Any]) -> None:
    """Store an evaluation's figures in the model's card (the About page reads them there)."""
    from mlcore.card import CARD_FILENAME, card_load, card_save

    card = card_load(path=model_dir / CARD_FILENAME)
    neg = report.get("gate_negatives") or {}
    card.evaluation["figures"] = {
        "split": report["split"],
        **report["headline"],
        "gate_chest_accept_rate": report["gate"]["accept_rate"],
        "gate_chest_n": report["gate"]["n"],
        "gate_negatives_refuse_rate": neg.get("refused_all"),
        "gate_negatives_n": neg.get("n"),
        "masked": report["shortcut"]["masked"],
        "cam_outside_lungs": report["shortcut"]["cam_outside_lungs"],
        "evidence_in_lungs": report["shortcut"].get("evidence_in_lungs"),
        "contributor": report.get("contributor"),
    }
    segmenter = model_dir / SEGMENTER_REPORT
    if segmenter.is_file():
        trained = json.loads(segmenter.read_text())
        card.evaluation["lung_segmenter"] = {k: v for k, v in trained.items() if k != "history"}
    if "cxr" in report:
        card.evaluation["test"] = report["cxr"]
    if "siim" in report:
        card.evaluation["test_siim"] = report["siim"]
    card_save(card=card, path=model_dir / CARD_FILENAME)


__all__ = ["evaluate_run", "items_screen"]
