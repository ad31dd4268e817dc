"""A stand-in for the model: returns a fixed result (or raises) and records what it saw."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlcore.errors import ImageError
from tests.support.images import fake_jpeg


@dataclass
class FakeResult:
    accepted: bool = True
    reason: str | None = None
    label: str | None = "pneumonia"
    decision: str | None = None  # None: the label's (the point agrees with the argmax)
    operating_point: str | None = "screening"
    thresholds: dict | None = field(
        default_factory=lambda: {"covid_min": 0.2, "pneumonia_min": 0.4}
    )
    evidence_in_lungs: float | None = None
    probabilities: dict | None = field(
        default_factory=lambda: {"covid": 0.1, "pneumonia": 0.7, "normal": 0.2}
    )
    heatmap: object = None
    overlay_jpeg: bytes | None = field(default_factory=fake_jpeg)
    model_name: str = "fake-model"
    model_version: str = "9.9.9"
    timings_ms: dict = field(default_factory=lambda: {"decode": 1.0, "classify": 2.0})

    def __post_init__(self) -> None:
        if self.decision is None and self.accepted:
            self.decision = self.label


class FakeScreener:
    model_name = "fake-model"
    model_version = "9.9.9"

    def __init__(self, result: FakeResult | None = None, error: Exception | None = None):
        self.result = result or FakeResult()
        self.error = error
        self.calls: list[str] = []
        self.batches: list[list[str]] = []
        self.points: list[object] = []  # the operating point each screen_many was asked for
        self.explained: list[bool] = []  # whether each screen_many asked for the heatmap

    def screen(self, *, data: bytes, filename: str) -> FakeResult:
        self.calls.append(filename)
        if self.error:
            raise self.error
        return self.result

    def screen_many(
        self, *, items: list[tuple[bytes, str]], operating_point: object = None, explain=True
    ) -> list[FakeResult | ImageError]:
        """Screen each item as `screen` does; an ImageError comes back in its item's place."""
        self.explained.append(explain)
        self.batches.append([filename for _, filename in items])
        self.points.append(operating_point)
        results: list[FakeResult | ImageError] = []
        for data, filename in items:
            try:
                results.append(self.screen(data=data, filename=filename))
            except ImageError as exc:
                results.append(exc)
        return results
