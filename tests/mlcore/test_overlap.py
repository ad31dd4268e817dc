"""The segmenter's pass beside the classifier's: same outputs, run on a helper thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mlcore.overlap import NetworksRunner


class _Net:
    """A stand-in network that says where it ran; with a barrier, it runs only while the
    other network is running too, and after it, sleeps like a TensorFlow pass (no GIL)."""

    def __init__(self, *, value: float, barrier: threading.Barrier | None = None,
                 after_s: float = 0.0) -> None:  # fmt: skip
        self.value, self.barrier, self.after_s, self.threads = value, barrier, after_s, []

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # broken (an error) if the two ran one after the other
        time.sleep(self.after_s)
        return np.full(batch.shape[:3], self.value, np.float32)


def test_the_segmenter_runs_beside_the_classifier_and_only_its_overhang_is_charged():
    both = threading.Barrier(2)
    classifier = _Net(value=1.0, barrier=both)
    segmenter = _Net(value=0.5, barrier=both, after_s=0.1)
    runner = NetworksRunner(classifier=classifier, segmenter=segmenter)
    pending = runner.lungs_start(lung_batch=np.zeros((2, 8, 8), np.float32))
    passed = runner.run(batch=np.zeros((2, 16, 16), np.float32), lungs=pending)
    assert passed.out.shape == (2, 16, 16) and passed.lungs.shape == (2, 8, 8)
    assert float(passed.lungs.max()) == 0.5
    assert segmenter.threads[0].startswith("lungs") and classifier.threads == [
        threading.current_thread().name
    ]
    # The segmenter outlasted the classifier by its 0.1 s: that wait is what `lungs` holds.
    assert passed.lungs_ms >= 90


def test_without_a_segmenter_or_films_nothing_is_started():
    runner = NetworksRunner(classifier=_Net(value=1.0), segmenter=None)
    assert runner.lungs_start(lung_batch=np.zeros((1, 8, 8), np.float32)) is None
    passed = runner.run(batch=np.zeros((1, 16, 16), np.float32), lungs=None)
    assert passed.lungs is None


@pytest.mark.slow
def test_a_screen_with_both_networks_at_once_matches_them_run_in_turn():
    from mlcore.lungs import lung_fields_measure, segmenter_input_prepare
    from mlcore.pipeline import Screener
    from mlcore.preprocess import radiograph_preprocess

    screener = Screener.load()  # the shipped model: it has a lung segmenter
    yy, xx = np.mgrid[0:300, 0:260].astype(np.float32)
    pixels = 0.5 + 0.3 * np.sin(yy / 23) * np.cos(xx / 19)
    result = screener.screen_array(pixels=pixels)
    lung_prep = segmenter_input_prepare(pixels=pixels)
    lungs = screener.segmenter.run(batch=lung_prep.array[None])[0]
    prep = radiograph_preprocess(pixels=pixels, size=screener.classifier.input_size)
    probs = screener.classifier.run(batch=prep.array[None]).probabilities[0]
    assert result.lung_fields == lung_fields_measure(probability=lungs, prep=lung_prep)
    if result.accepted:
        np.testing.assert_allclose(list(result.probabilities.values()), probs, atol=1e-6)
    assert result.timings_ms["lungs"] >= 0 and result.timings_ms["classify"] > 0
