"""Run the lung segmenter beside the classifier: one batch pass of each, at the same time.

Both networks release the GIL while TensorFlow runs them, and at batch 1 neither fills two
cores, so the segmenter's pass on a helper thread hides most of its time behind the
classifier's (bench/NOTES.md). A model that crops its input to the lung fields needs the
fields first and runs the two in turn.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.classifier import ClassifierOutput


@dataclass(frozen=True)
class NetworksPass:
    """The outputs of one pass of both networks, and the wall time each added."""

    out: ClassifierOutput
    lungs: np.ndarray | None  # (B, S, S) lung probabilities; None without a segmenter
    classify_ms: float  # the classifier's pass
    lungs_ms: float  # the wait for the lung fields after it: the segmenter's unhidden time


class NetworksRunner:
    """The classifier on the caller's thread, the segmenter on one helper thread of its own."""

    def __init__(self, *, classifier: Any, segmenter: Any = None) -> None:
        self.classifier = classifier
        self.segmenter = segmenter
        # Made on first use, so that a worker process forked after loading starts its own.
        self._helper: ThreadPoolExecutor | None = None

    def lungs_start(self, *, lung_batch: np.ndarray | None) -> Future | None:
        """Start the segmenter's pass on the helper thread; None when there is nothing to run."""
        if self.segmenter is None or lung_batch is None or not len(lung_batch):
            return None
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lungs")
        return self._helper.submit(self.segmenter.run, batch=lung_batch)

    def run(self, *, batch: np.ndarray, lungs: Future | None) -> NetworksPass:
        """Classify `batch` while the started segmenter pass (if any) finishes; join both."""
        t0 = time.perf_counter()
        out = self.classifier.run(batch=batch)
        t1 = time.perf_counter()
        probabilities = lungs.result() if lungs is not None else None
        t2 = time.perf_counter()
        return NetworksPass(out, probabilities, (t1 - t0) * 1000, (t2 - t1) * 1000)
