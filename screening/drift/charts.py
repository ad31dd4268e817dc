"""A site's daily figures as server-drawn SVG (no script), each over its band behind it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from mlcore.drift import FIGURES, FigureSpec
from screening.drift.models import SiteDay
from screening.drift.reference import figure_band, min_count_of

WIDTH, HEIGHT = 640, 150  # plot area in SVG units
PAD_LEFT, PAD_TOP, PAD_BOTTOM = 56, 12, 22
COLOURS = {"in": "#1f5fa8", "out": "#b3261e", "thin": "#9e9e9e"}


def _scale(*, lows: list[float], highs: list[float]) -> tuple[float, float]:
    low, high = min(lows), max(highs)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    margin = (high - low) * 0.08
    return max(low - margin, 0.0) if low >= 0 else low - margin, high + margin


def _point(*, index: int, days: int, value: float, bounds: tuple[float, float]) -> tuple:
    x = PAD_LEFT + (index + 0.5) * WIDTH / days
    y = PAD_TOP + (bounds[1] - value) / (bounds[1] - bounds[0]) * HEIGHT
    return round(x, 1), round(y, 1)


def _day_marks(*, site_days: list[SiteDay], spec: FigureSpec, reference: dict | None) -> list:
    """(day, value, band, counted) of each day that has the figure."""
    marks = []
    for site_day in site_days:
        value, n = getattr(site_day, spec.name), getattr(site_day, spec.count)
        if value is None:
            continue
        band = figure_band(reference=reference, figure=spec.name, n=max(n, 1))
        marks.append((site_day.day, float(value), band, n >= min_count_of(spec=spec)))
    return marks


def figure_chart(
    *, site_days: list[SiteDay], spec: FigureSpec, reference: dict | None, since: date, days: int
) -> dict[str, Any] | None:
    """One figure's chart: its band polygon, its line, a dot per day; None without values."""
    marks = _day_marks(site_days=site_days, spec=spec, reference=reference)
    if not marks:
        return None
    bands = [m[2] for m in marks if m[2] is not None]
    bounds = _scale(
        lows=[m[1] for m in marks] + [b.low for b in bands],
        highs=[m[1] for m in marks] + [b.high for b in bands],
    )

    def at(day: date, value: float) -> tuple:
        return _point(index=(day - since).days, days=days, value=value, bounds=bounds)

    upper = [at(m[0], m[2].high) for m in marks if m[2] is not None]
    lower = [at(m[0], m[2].low) for m in marks if m[2] is not None]
    if len(upper) == 1:  # one day: widen its band to a visible strip
        (x, y_high), (_, y_low) = upper[0], lower[0]
        upper, lower = [(x - 4, y_high), (x + 4, y_high)], [(x - 4, y_low), (x + 4, y_low)]
    dots = []
    for day, value, band, counted in marks:
        kind = "thin" if not counted else ("out" if band and not band.holds(value=value) else "in")
        x, y = at(day, value)
        title = f"{day}: {value:.3g}"
        if band is not None:
            title += f" (band {band.low:.3g} to {band.high:.3g})"
        dots.append({"x": x, "y": y, "colour": COLOURS[kind], "kind": kind, "title": title})
    return {
        "name": spec.name,
        "title": spec.title,
        "band": " ".join(f"{x},{y}" for x, y in upper + lower[::-1]),
        "band_source": bands[-1].source if bands else "",
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "ticks": [
            {"y": at(since, v)[1], "label": f"{v:.3g}"}
            for v in (bounds[0], (bounds[0] + bounds[1]) / 2, bounds[1])
        ],
        "out_days": sum(1 for d in dots if d["kind"] == "out"),
    }


def site_charts(
    *, site_days: list[SiteDay], reference: dict | None, today: date, days: int
) -> list[dict[str, Any]]:
    """A chart per figure that has values in the window ending `today`."""
    since = today - timedelta(days=days - 1)
    charts = []
    for spec in FIGURES:
        chart = figure_chart(
            site_days=site_days, spec=spec, reference=reference, since=since, days=days
        )
        if chart is not None:
            charts.append(chart)
    return charts


def chart_frame(*, today: date, days: int) -> dict[str, Any]:
    """The geometry every chart shares, and its first and last day's labels."""
    return {
        "width": WIDTH + PAD_LEFT + 8,
        "height": HEIGHT + PAD_TOP + PAD_BOTTOM,
        "left": PAD_LEFT,
        "top": PAD_TOP,
        "right": PAD_LEFT + WIDTH,
        "bottom": PAD_TOP + HEIGHT,
        "first": today - timedelta(days=days - 1),
        "last": today,
        "text_y": PAD_TOP + HEIGHT + 16,
    }
