"""Fit the card's operating points on the validation films and judge them on the test films.

`screening` runs at a high sensitivity (targets on val: covid pattern, any pneumonia);
`balanced` at the Youden point unless given targets of its own. Positives for the covid
pattern are covid films and SIIM "typical" films against every other graded film; for any
pneumonia, every pneumonia or opacity (SIIM indeterminate included) against normal films.
Test figures come with patient-level bootstrap intervals; ROC curves go into the card
thinned, so the model page can draw them and an admin can pick another point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlcore.operating_point import OperatingPoint
from training.data import Table, table_filter
from training.evaluate import EvaluationError, rows_scored
from training.metrics import SIIM_OPACITY
from training.screenpass import file_decode, items_screen
from training.thresholds import (
    confusion_bootstrap,
    flags_compute,
    pneumonia_threshold_fit,
    roc_thin,
    threshold_for_sensitivity,
    threshold_youden,
)
from training.trainset import tables_read

N_BOOT = 2000


@dataclass(frozen=True, kw_only=True)
class PointTargets:
    """What a point is fitted for: sensitivities on val, or None for the Youden index."""

    name: str
    covid: float | None
    any_pneumonia: float | None


@dataclass(frozen=True, kw_only=True)
class Task:
    """A two-class question over graded rows: which rows take part, which are positive."""

    name: str
    member: Callable[[dict], bool]
    positive: Callable[[dict], bool]
    flag: str  # "covid" or "any": which decision flags a row


def _is_siim(row: dict) -> bool:
    return (row.get("source") or "") == "siim"


def _labelled(row: dict) -> bool:
    return row.get("label") in ("covid", "pneumonia", "normal")


def _any_member(row: dict) -> bool:
    return _labelled(row) or row.get("appearance") in SIIM_OPACITY


def _any_positive(row: dict) -> bool:
    return row.get("label") != "normal"


COVID_VS_REST = Task(
    name="covid_vs_rest", member=_labelled, positive=lambda r: r["label"] == "covid", flag="covid"
)
ANY_VS_NORMAL = Task(
    name="any_pneumonia_vs_normal", member=_any_member, positive=_any_positive, flag="any"
)
# The test sets each point is judged on, as the model page lists them.
TEST_TASKS = (
    Task(
        name="cxr_covid_vs_rest",
        member=lambda r: _labelled(r) and not _is_siim(r),
        positive=COVID_VS_REST.positive,
        flag="covid",
    ),
    Task(
        name="siim_typical_vs_negative",
        member=lambda r: _is_siim(r) and r.get("appearance") in ("typical", "negative"),
        positive=lambda r: r.get("appearance") == "typical",
        flag="covid",
    ),
    Task(
        name="cxr_any_pneumonia_vs_normal",
        member=lambda r: _any_member(r) and not _is_siim(r),
        positive=_any_positive,
        flag="any",
    ),
    Task(
        name="siim_any_pneumonia_vs_normal",
        member=lambda r: _is_siim(r) and _any_member(r),
        positive=_any_positive,
        flag="any",
    ),
)


@dataclass(frozen=True)
class Scored:
    """Rows of one split with their calibrated probabilities."""

    rows: list[dict]
    probs: np.ndarray

    def task(self, *, task: Task, only: Callable[[dict], bool] | None = None) -> tuple:
        """Return (mask, y, groups) of the rows taking part in `task`."""
        mask = np.array([task.member(r) and (only is None or only(r)) for r in self.rows], bool)
        y = np.array([task.positive(r) for r, m in zip(self.rows, mask, strict=True) if m], bool)
        groups = np.array(
            [r.get("patient_id") or r["path"] for r, m in zip(self.rows, mask, strict=True) if m]
        )
        return mask, y, groups


def point_fit(*, val: Scored, targets: PointTargets) -> OperatingPoint:
    """Fit covid_min, then pneumonia_min given what covid_min already flags, on val."""
    mask, y, _ = val.task(task=COVID_VS_REST)
    covid_score = val.probs[mask, 0]
    if targets.covid is None:
        covid_min = threshold_youden(y=y, score=covid_score)
    else:
        # The target holds inside each source's val films (SIIM, the mixed collection), so
        # that the larger source cannot carry the smaller one's sensitivity.
        siim = np.array([_is_siim(r) for r, m in zip(val.rows, mask, strict=True) if m], bool)
        covid_min = min(
            threshold_for_sensitivity(positive_scores=covid_score[y & part], target=targets.covid)
            for part in (siim, ~siim)
            if (y & part).any()
        )
    mask, y, _ = val.task(task=ANY_VS_NORMAL)
    probs = val.probs[mask]
    pneumonia_min = pneumonia_threshold_fit(
        y=y,
        any_score=probs[:, 0] + probs[:, 1],
        covid_flagged=probs[:, 0] >= covid_min,
        target=targets.any_pneumonia,
    )
    wanted = {"covid": targets.covid, "any_pneumonia": targets.any_pneumonia}
    return OperatingPoint(
        name=targets.name,
        covid_min=covid_min,
        pneumonia_min=pneumonia_min,
        targets={k: v for k, v in wanted.items() if v is not None},
        rule=(
            "sensitivity targets on the validation films (covid: inside each source)"
            if targets.covid is not None
            else "Youden index (sensitivity + specificity - 1) on the validation films"
        ),
    )


def point_judge(
    *, point: OperatingPoint, scored: Scored, tasks: tuple[Task, ...], n_boot: int, seed: int
) -> dict[str, Any]:
    """Return the point's figures per task with patient-level bootstrap intervals."""
    covid, any_ = flags_compute(
        probs=scored.probs, covid_min=point.covid_min, pneumonia_min=point.pneumonia_min
    )
    out: dict[str, Any] = {}
    for task in tasks:
        mask, y, groups = scored.task(task=task)
        if not mask.any():
            continue
        flagged = (covid if task.flag == "covid" else any_)[mask]
        out[task.name] = confusion_bootstrap(
            y=y, flagged=flagged, groups=groups, n_boot=n_boot, seed=seed
        )
    return out


def curves_compute(*, test: Scored) -> dict[str, Any]:
    """ROC curves of covid vs rest and any pneumonia vs normal: all test films, inside SIIM."""
    curves: dict[str, Any] = {}
    for key, only in (("dev_test", None), ("siim_test", _is_siim)):
        curves[key] = {}
        for task, column in ((COVID_VS_REST, "covid"), (ANY_VS_NORMAL, "any")):
            mask, y, _ = test.task(task=task, only=only)
            if not mask.any():
                continue
            probs = test.probs[mask]
            score = probs[:, 0] if column == "covid" else probs[:, 0] + probs[:, 1]
            curves[key][task.name] = roc_thin(y=y, score=score)
    return curves


def split_score(*, screener: Any, table: Table, split: str) -> Scored:
    """Screen one split's graded rows; keep the readable ones with their probabilities."""
    rows = rows_scored(table=table_filter(table=table, split=split)).rows
    if not rows:
        raise EvaluationError(f"no graded rows in split {split!r}")
    items = [file_decode(path=Path(r["path"])) for r in tqdm(rows, desc=split, unit="img")]
    # Probabilities of films the gate refuses count too, as in `evaluate`: the point is a
    # property of the classifier.
    screened = items_screen(screener=screener, items=items, desc=f"screen {split}")
    ok = np.flatnonzero(screened.readable)
    return Scored(rows=[rows[i] for i in ok], probs=screened.probs[ok].astype(np.float64))


def operating_points_run(
    *,
    model: str | None,
    weights_dir: Path | None,
    data: list[Path],
    targets: list[PointTargets],
    default: str,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the points on val, judge them on test, write them into the card; return them."""
    from mlcore.card import CARD_FILENAME, card_load, card_save
    from mlcore.pipeline import Screener
    from mlcore.registry import model_dir_resolve

    if default not in {t.name for t in targets}:
        raise EvaluationError(f"the default point {default!r} is not among those fitted")
    screener = Screener.load(name=model, weights_dir=weights_dir)
    table = tables_read(roots=data)
    val = split_score(screener=screener, table=table, split="val")
    test = split_score(screener=screener, table=table, split="test")
    points = {}
    for wanted in targets:
        fitted = point_fit(val=val, targets=wanted)
        judge = dict(n_boot=n_boot, seed=seed)
        figures = {
            "val": point_judge(
                point=fitted, scored=val, tasks=(COVID_VS_REST, ANY_VS_NORMAL), **judge
            ),
            "test": point_judge(point=fitted, scored=test, tasks=TEST_TASKS, **judge),
        }
        points[wanted.name] = {**fitted.to_dict(), "figures": figures}
    folder = model_dir_resolve(name=model, weights_dir=weights_dir)
    card = card_load(path=folder / CARD_FILENAME)
    card.operating_points = points
    card.default_operating_point = default
    card.evaluation["operating"] = {
        "data": [p.name for p in data],
        "fitted_on": "val",
        "n_val": len(val.rows),
        "n_test": len(test.rows),
        "bootstrap": {"n": n_boot, "seed": seed, "unit": "patient (patient_id), else film"},
        "roc": curves_compute(test=test),
    }
    card_save(card=card, path=folder / CARD_FILENAME)
    return {"model": f"{card.name}@{card.version}", "default": default, "points": points}
