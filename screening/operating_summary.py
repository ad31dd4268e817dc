"""What the model page and API say about operating points: the point in force, the card's
points with their test figures, and the ROC curves they sit on."""

from __future__ import annotations

from typing import Any

# The test sets each point is judged on, in the order users read them.
TEST_SETS = (
    ("cxr_covid_vs_rest", "Mixed collection: covid vs the rest"),
    ("siim_typical_vs_negative", "SIIM: typical of COVID-19 vs no pneumonia"),
    ("cxr_any_pneumonia_vs_normal", "Mixed collection: any pneumonia vs normal"),
    ("siim_any_pneumonia_vs_normal", "SIIM: any pneumonia or opacity vs no pneumonia"),
)
_FIGURES = ("sensitivity", "specificity", "ppv", "npv")


def operating_summary(*, card: Any, in_force: Any | None) -> dict[str, Any] | None:
    """Return the point in force, each shipped point with its figures, and the ROC curves."""
    points = card.operating_points or {}
    if not points and in_force is None:
        return None
    shipped = [
        {
            "name": name,
            "covid_min": point.get("covid_min"),
            "pneumonia_min": point.get("pneumonia_min"),
            "targets": point.get("targets") or {},
            "rule": point.get("rule", ""),
            "default": name == card.default_operating_point,
            "test": _point_figures(figures=(point.get("figures") or {}).get("test") or {}),
        }
        for name, point in points.items()
    ]
    return {
        "in_force": _in_force(points=points, in_force=in_force),
        "points": shipped,
        "curves": ((card.evaluation or {}).get("operating") or {}).get("roc") or {},
    }


def _point_figures(*, figures: dict) -> list[dict[str, Any]]:
    """Return one row per test set: n positive/negative and each figure with its interval."""
    rows = []
    for key, title in TEST_SETS:
        f = figures.get(key)
        if not f:
            continue
        rows.append(
            {
                "set": key,
                "title": title,
                "n_positive": f.get("n_positive"),
                "n_negative": f.get("n_negative"),
                # sensitivity, specificity, PPV, NPV: each {value, ci95}
                "figures": [f.get(name) or {"value": None, "ci95": None} for name in _FIGURES],
            }
        )
    return rows


def _in_force(*, points: dict, in_force: Any | None) -> dict[str, Any] | None:
    """Return the point decisions are made at now, with its thresholds and who set it."""
    if in_force is None:
        return None
    thresholds = in_force.thresholds
    known = in_force.name in points
    if thresholds is None and known:
        point = points[in_force.name]
        thresholds = {k: point.get(k) for k in ("covid_min", "pneumonia_min")}
    return {
        "name": in_force.name,
        "source": in_force.source,
        "thresholds": thresholds,
        # A setting naming a point the card lacks: screens fail until it is fixed.
        "unknown": thresholds is None,
        "shipped": known
        and thresholds == {k: points[in_force.name].get(k) for k in ("covid_min", "pneumonia_min")},
        "changed_by": in_force.changed_by,
        "changed": in_force.changed.isoformat() if in_force.changed else None,
        "note": in_force.note,
    }
