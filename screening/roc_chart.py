"""ROC charts for the model page, drawn server-side as inline SVG (no script, no CDN)."""

from __future__ import annotations

from typing import Any

SIZE = 240  # plot side in SVG units
PAD = 36
CURVES = (("dev_test", "All test films", "#1f5fa8"), ("siim_test", "Inside SIIM", "#c25e00"))
CHARTS = (
    ("covid_vs_rest", "Covid pattern vs the rest", "covid_min"),
    ("any_pneumonia_vs_normal", "Any pneumonia vs normal", "pneumonia_min"),
)
MARKERS = {"screening": "#b3261e", "balanced": "#2e7d32"}
IN_FORCE_COLOUR = "#000000"


def _xy(*, fpr: float, tpr: float) -> tuple[float, float]:
    return round(PAD + fpr * SIZE, 1), round(PAD + (1.0 - tpr) * SIZE, 1)


def curve_point_at(*, curve: dict, threshold: float) -> tuple[float, float] | None:
    """Return (fpr, tpr) where the curve's threshold first falls to `threshold` or below."""
    for fpr, tpr, t in zip(curve["fpr"], curve["tpr"], curve["threshold"], strict=True):
        if t <= threshold:
            return fpr, tpr
    return (curve["fpr"][-1], curve["tpr"][-1]) if curve["fpr"] else None


def roc_charts_build(*, operating: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one chart per question: its curves as SVG polylines and the points marked."""
    curves = operating.get("curves") or {}
    marks = [(p["name"], p, MARKERS.get(p["name"], "#555555"), False) for p in operating["points"]]
    in_force = operating.get("in_force")
    if in_force and in_force.get("thresholds"):
        marks.append((in_force["name"], in_force["thresholds"], IN_FORCE_COLOUR, True))
    charts = []
    for key, title, threshold_key in CHARTS:
        lines, dots = [], []
        for where, label, colour in CURVES:
            curve = (curves.get(where) or {}).get(key)
            if not curve or not curve.get("fpr"):
                continue
            points = " ".join(
                "{},{}".format(*_xy(fpr=f, tpr=t))
                for f, t in zip(curve["fpr"], curve["tpr"], strict=True)
            )
            lines.append({"label": label, "colour": colour, "points": points, "auc": curve["auc"]})
            for name, thresholds, dot_colour, in_force_mark in marks:
                at = curve_point_at(curve=curve, threshold=float(thresholds[threshold_key]))
                if at is None:
                    continue
                x, y = _xy(fpr=at[0], tpr=at[1])
                dots.append(
                    {
                        "x": x,
                        "y": y,
                        "colour": dot_colour,
                        "in_force": in_force_mark,
                        "title": f"{name} on {label.lower()}: sensitivity {at[1]:.2f}, "
                        f"specificity {1 - at[0]:.2f}",
                    }
                )
        if lines:
            charts.append({"key": key, "title": title, "lines": lines, "dots": dots})
    return charts


def chart_frame() -> dict[str, Any]:
    """Return the axes' geometry (the same for every chart)."""
    ticks = [
        {"value": v, "x": _xy(fpr=v, tpr=0)[0], "y": _xy(fpr=0, tpr=v)[1]}
        for v in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    return {"size": SIZE, "pad": PAD, "view": SIZE + 2 * PAD, "end": PAD + SIZE, "ticks": ticks}
