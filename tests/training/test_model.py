"""The network builder: heads, sizes, and anti-aliased downsampling."""

from __future__ import annotations

import numpy as np


def test_two_heads_and_stride_16_map():
    from training.model import classifier_build

    model = classifier_build(input_size=64, width=0.5)
    assert sorted(model.output) == ["disease", "gate"]
    assert model.get_layer("cam_features").output.shape[1:3] == (4, 4)


def test_antialias_blurs_each_stride_2_block_with_a_fixed_kernel(tmp_path):
    import keras

    from mlcore.fold import batchnorm_fold
    from training.model import classifier_build

    plain = classifier_build(input_size=64, width=0.5)
    model = classifier_build(input_size=64, width=0.5, antialias=True)
    blurs = [layer for layer in model.layers if layer.name.endswith("_blur")]
    assert [b.name for b in blurs] == ["b0_blur", "b2_blur", "b5_blur"]
    assert all(not b.trainable for b in blurs)
    kernel = blurs[0].weights[0].numpy()[:, :, 0, 0]
    np.testing.assert_allclose(kernel, np.outer([1, 2, 1], [1, 2, 1]) / 16)
    # Same map size and (up to the blur layers) the same trainable weights as the plain net.
    assert (
        model.get_layer("cam_features").output.shape == plain.get_layer("cam_features").output.shape
    )
    assert len(model.trainable_weights) == len(plain.trainable_weights)

    # A plain Keras file: it reloads without custom objects, and still folds exactly.
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 1)).astype(np.float32)
    expected = model(x, training=False)["disease"].numpy()
    np.testing.assert_allclose(loaded(x, training=False)["disease"].numpy(), expected, atol=1e-5)
    folded = batchnorm_fold(model=loaded)
    np.testing.assert_allclose(folded(x, training=False)["disease"].numpy(), expected, atol=1e-4)


def test_blur_removes_the_shift_alias_of_a_stripe_pattern():
    import keras

    from training.model import blur_pool

    inp = keras.Input((16, 16, 1))
    model = keras.Model(inp, blur_pool(inp, name="blur"))
    stripes = np.tile(np.array([1.0, 0.0] * 8, np.float32), (16, 1))[None, :, :, None]
    shifted = np.roll(stripes, 1, axis=2)
    # Plain stride-2 subsampling sees all ones or all zeros; the blurred one sees the mean.
    a, b = model(stripes).numpy()[0, 4:-4, 4:-4, 0], model(shifted).numpy()[0, 4:-4, 4:-4, 0]
    np.testing.assert_allclose(a, 0.5, atol=1e-6)
    np.testing.assert_allclose(b, 0.5, atol=1e-6)
