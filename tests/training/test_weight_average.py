"""`training ensemble --average weights`: one network of the members' mean weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.training.test_cli import TINY_GATE, model_copy, run
from training.config import ConfigError
from training.ensemble import weights_mean


def test_the_mean_is_taken_weight_by_weight_in_each_weights_own_type():
    a = [np.zeros((2, 3), np.float32), np.full(4, 2.0, np.float32)]
    b = [np.ones((2, 3), np.float32), np.full(4, 4.0, np.float32)]
    mean = weights_mean(weight_lists=[a, b])
    np.testing.assert_array_equal(mean[0], np.full((2, 3), 0.5))
    np.testing.assert_array_equal(mean[1], np.full(4, 3.0))
    assert [w.dtype for w in mean] == [np.float32, np.float32]


def test_members_of_other_shapes_are_refused_by_name():
    a = [np.zeros((2, 3), np.float32)]
    b = [np.zeros((3, 2), np.float32)]
    with pytest.raises(ConfigError, match="one architecture"):
        weights_mean(weight_lists=[a, b])


@pytest.mark.slow
def test_a_weight_average_ships_one_network_of_the_mean_weights(tmp_path, toy_data, one_view_model):
    import keras

    from mlcore.classifier import keras_model_load
    from mlcore.pipeline import Screener

    members = [tmp_path / "weights" / f"toy-{seed}" for seed in (0, 1)]
    for member in members:
        model_copy(model=one_view_model, out=member)
    other = keras_model_load(path=members[1] / "model.keras")
    rng = np.random.default_rng(2)
    dense = [la for la in other.layers if isinstance(la, keras.layers.Dense)]
    for layer in dense:
        layer.set_weights([w + rng.normal(0, 0.05, w.shape) for w in layer.get_weights()])
    norm = next(la for la in other.layers if isinstance(la, keras.layers.BatchNormalization))
    # One member marks a layer frozen, which reorders its weights model-wide.
    norm.set_weights([w + 0.5 for w in norm.get_weights()])
    norm.trainable = False
    other.save(members[1] / "model.keras")
    out = tmp_path / "weights" / "toy-soup"
    proc = run(
        [
            *("ensemble", "--members", *members, "--out", out, "--data", toy_data),
            *("--name", "toy-soup", "--version", "9.1.0", "--average", "weights", *TINY_GATE),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["members"] == [] and card["training"]["ensemble_average"] == "weights"
    assert [m["folder"] for m in card["training"]["ensemble"]] == ["toy-0", "toy-1"]
    assert not list(out.glob("member-*.keras"))
    got = keras_model_load(path=out / "model.keras")
    sources = [keras_model_load(path=m / "model.keras") for m in members]
    for layer in got.layers:
        pairs = zip(*(m.get_layer(layer.name).get_weights() for m in sources), strict=True)
        for w, (a, b) in zip(layer.get_weights(), pairs, strict=True):
            np.testing.assert_allclose(w, (a + b) / 2, atol=1e-6)
    # The portal loads it as any one-network model.
    screener = Screener.load(name="toy-soup", weights_dir=out.parent)
    film = next((toy_data / "images").glob("*.png")).read_bytes()
    result = screener.screen(data=film, filename="x.png")
    assert result.accepted or result.reason
