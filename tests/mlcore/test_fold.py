"""BatchNorm folding: same outputs, fewer layers' work, and only where it is exact."""

from __future__ import annotations

import numpy as np
import pytest


def _bn_count(model) -> int:
    import keras

    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _randomise_bn(model, seed: int = 0) -> None:
    """Give every BN non-trivial statistics, as after training."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [
                    rng.uniform(0.5, 2.0, w.shape).astype(np.float32)
                    if "variance" in w.path or "gamma" in w.path
                    else rng.normal(0, 0.5, w.shape).astype(np.float32)
                    for w in layer.weights
                ]
            )


def test_tiny_model_folds_to_the_same_outputs(tiny_network):
    from mlcore.fold import batchnorm_fold

    model = tiny_network
    folded = batchnorm_fold(model=model)
    assert _bn_count(model) > 0 and _bn_count(folded) == 0
    assert folded.count_params() < model.count_params()
    x = np.random.default_rng(1).standard_normal((3, *model.input_shape[1:])).astype(np.float32)
    a, b = model(x, training=False), folded(x, training=False)
    for head in ("disease", "gate"):
        np.testing.assert_allclose(b[head].numpy(), a[head].numpy(), atol=1e-4)
    assert batchnorm_fold(model=folded) is folded  # nothing left to fold


@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_fold_handles_bias_multiplier_and_missing_affine(center, scale):
    import keras
    from keras import layers

    from mlcore.fold import batchnorm_fold

    inp = keras.Input((12, 12, 2))
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(inp)
    x = layers.BatchNormalization(center=center, scale=scale, name="dw_bn")(x)
    x = layers.Conv2D(5, 1, use_bias=True, name="pw")(x)
    x = layers.BatchNormalization(name="pw_bn")(x)
    model = keras.Model(inp, layers.ReLU()(x))
    _randomise_bn(model)
    folded = batchnorm_fold(model=model)
    assert _bn_count(folded) == 0
    x = np.random.default_rng(2).standard_normal((2, 12, 12, 2)).astype(np.float32)
    np.testing.assert_allclose(folded(x).numpy(), model(x, training=False).numpy(), atol=1e-4)


def test_bn_that_cannot_fold_leaves_the_model_alone():
    import keras
    from keras import layers

    from mlcore.fold import batchnorm_fold

    inp = keras.Input((8, 8, 1))
    conv = layers.Conv2D(4, 3, padding="same")(inp)
    # The conv's output is also used past the BN: folding would change that second use.
    x = layers.Add()([layers.BatchNormalization()(conv), conv])
    model = keras.Model(inp, x)
    assert batchnorm_fold(model=model) is model

    # A conv with its own activation feeds the BN relu(x), not an affine function of x.
    activated = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, layers.BatchNormalization()(activated))
    assert batchnorm_fold(model=model) is model
