"""The networks as cached LiteRT flatbuffers: same answers as Keras, built once, no TensorFlow."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.options import COMPILED_DEFAULT
from mlcore.card import card_load
from mlcore.compiled import (
    CLASSIFIER_FILE,
    LiteClassifier,
    compiled_ensure,
    compiled_key,
)
from mlcore.errors import ModelUnavailableError
from mlcore.pipeline import Screener
from mlcore.testing.files import png_bytes
from tests.support.cli import module_run, script_run


@pytest.fixture(scope="module")
def compiled_dir():
    # The workers' cache: builds are keyed by content, so sharing it costs no isolation.
    return COMPILED_DEFAULT


@pytest.fixture(scope="module")
def lite_screener(tiny_weights_dir, compiled_dir):
    return Screener.load(name="tiny", weights_dir=tiny_weights_dir, compiled_dir=compiled_dir)


def test_lite_screens_give_the_keras_answers(lite_screener, tiny_screener, toy_images):
    assert isinstance(lite_screener.classifier, LiteClassifier)
    for images in toy_images.values():
        for pixels in images[:2]:
            a = lite_screener.screen(data=png_bytes(pixels=pixels), filename="x.png")
            b = tiny_screener.screen(data=png_bytes(pixels=pixels), filename="x.png")
            assert (a.accepted, a.reason, a.label, a.decision) == (
                b.accepted,
                b.reason,
                b.label,
                b.decision,
            )
            if a.accepted:
                for k, p in b.probabilities.items():
                    assert a.probabilities[k] == pytest.approx(p, abs=1e-5)
                np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-3)


def test_a_batch_of_any_size_runs(lite_screener, tiny_screener):
    size = lite_screener.classifier.input_size
    x = np.random.default_rng(4).uniform(-1, 1, (3, size, size)).astype(np.float32)
    three = lite_screener.classifier.run(batch=x)
    one = lite_screener.classifier.run(batch=x[1:2])
    keras = tiny_screener.classifier.run(batch=x)
    np.testing.assert_allclose(three.logits, keras.logits, atol=1e-4)
    np.testing.assert_allclose(one.logits[0], three.logits[1], atol=1e-5)


def test_the_build_is_cached_and_keyed_by_what_it_depends_on(
    lite_screener, tiny_weights_dir, compiled_dir, tmp_path
):
    folder = tiny_weights_dir / "tiny"
    card = card_load(path=folder / "card.json")
    built = compiled_ensure(folder=folder, card=card, cache_dir=compiled_dir)
    stamp = (built / CLASSIFIER_FILE).stat().st_mtime_ns
    assert compiled_ensure(folder=folder, card=card, cache_dir=compiled_dir) == built
    assert (built / CLASSIFIER_FILE).stat().st_mtime_ns == stamp
    # Another temperature is another compiled pass; so are other weights.
    copy = tmp_path / "tiny"
    shutil.copytree(folder, copy)
    data = json.loads((copy / "card.json").read_text())
    data["temperature"] = data["temperature"] * 2
    (copy / "card.json").write_text(json.dumps(data))
    assert compiled_key(folder=copy, card=card_load(path=copy / "card.json")) != built.name[-24:]
    with (copy / "model.keras").open("ab") as f:
        f.write(b"\0")
    assert compiled_key(folder=copy, card=card) != compiled_key(folder=folder, card=card)


def test_a_failed_build_is_named_and_the_screener_runs_keras(tiny_weights_dir, tmp_path, caplog):
    folder = tmp_path / "weights" / "tiny"
    shutil.copytree(tiny_weights_dir / "tiny", folder)
    card = card_load(path=folder / "card.json")
    (folder / "model.keras").write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match=r"compiling 'tiny' failed: .*unreadable"):
        compiled_ensure(folder=folder, card=card, cache_dir=tmp_path / "compiled")
    shutil.copy(tiny_weights_dir / "tiny" / "model.keras", folder / "model.keras")
    bad = tmp_path / "compiled-file"
    bad.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="mlcore.parts"):
        screener = Screener.load(name="tiny", weights_dir=folder.parent, compiled_dir=bad)
    assert not isinstance(screener.classifier, LiteClassifier)
    assert "Running tiny as Keras networks" in caplog.text


def test_a_worker_with_compiled_networks_never_imports_tensorflow(
    lite_screener, compiled_dir, tiny_weights_dir
):
    script = (
        "import sys\n"
        "from mlcore.pipeline import Screener\n"
        "from mlcore.testing.arrays import chest_like_array\n"
        f"s = Screener.load(name='tiny', weights_dir={str(tiny_weights_dir)!r},"
        f" compiled_dir={str(compiled_dir)!r})\n"
        "r = s.screen_array(pixels=chest_like_array(size=(300, 280), seed=3))\n"
        "print(type(s.classifier).__name__, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    proc = script_run(script=script, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ["LiteClassifier", "False", "False"]


def test_the_cli_fills_a_cache_ahead_and_names_a_bad_call(
    lite_screener, compiled_dir, tiny_weights_dir
):
    proc = module_run(
        module="mlcore.compiled",
        args=["--cache-dir", compiled_dir, "--model", "tiny"],
        env={"CXR_WEIGHTS_DIR": str(tiny_weights_dir)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (Path(proc.stdout.strip()) / CLASSIFIER_FILE).is_file()
    bad = module_run(module="mlcore.compiled", args=["--folder", "x"], timeout=60)
    assert bad.returncode == 2 and "give --folder and --out, or --cache-dir" in bad.stderr
