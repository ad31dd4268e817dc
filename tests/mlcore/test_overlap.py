"""The segmenter's pass beside the classifier's: same outputs, run on a helper thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mlcore.overlap import NetworksRunner


class _Net:
    """A stand-in network: sleeps like a TensorFlow pass (without the GIL) and says where."""

    def __init__(self, *, seconds: float, value: float) -> None:
        self.seconds, self.value, self.threads = seconds, value, []

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        return np.full(batch.shape[:3], self.value, np.float32)


def test_the_segmenter_runs_beside_the_classifier_and_only_its_overhang_is_charged():
    classifier, segmenter = _Net(seconds=0.2, value=1.0), _Net(seconds=0.1, value=0.5)
    runner = NetworksRunner(classifier=classifier, segmenter=segmenter)
    t = time.perf_counter()
    pending = runner.lungs_start(lung_batch=np.zeros((2, 8, 8), np.float32))
    passed = runner.run(batch=np.zeros((2, 16, 16), np.float32), lungs=pending)
    wall = time.perf_counter() - t
    assert passed.out.shape == (2, 16, 16) and passed.lungs.shape == (2, 8, 8)
    assert float(passed.lungs.max()) == 0.5
    assert segmenter.threads[0].startswith("lungs") and classifier.threads == [
        threading.current_thread().name
    ]
    assert wall < 0.28  # together, not one after the other (0.3 s)
    assert passed.classify_ms >= 200 and passed.lungs_ms < 50


def test_without_a_segmenter_or_films_nothing_is_started():
    runner = NetworksRunner(classifier=_Net(seconds=0, value=1.0), segmenter=None)
    assert runner.lungs_start(lung_batch=np.zeros((1, 8, 8), np.float32)) is None
    passed = runner.run(batch=np.zeros((1, 16, 16), np.float32), lungs=None)
    assert passed.lungs is None and passed.lungs_ms < 5


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
