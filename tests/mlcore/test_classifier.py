"""Classifier: compiled forward pass, batch consistency, calibration."""

from __future__ import annotations

import numpy as np

from training.calibrate import nll_at_temperature, temperature_fit


def _inputs(screener, toy_images):
    from mlcore.preprocess import radiograph_preprocess

    size = screener.classifier.input_size
    return np.stack(
        [
            radiograph_preprocess(pixels=img, size=size).array
            for imgs in toy_images.values()
            for img in imgs
        ]
    )


def test_batch_equals_single(tiny_screener, toy_images):
    x = _inputs(tiny_screener, toy_images)
    batch = tiny_screener.classifier.run(batch=x)
    for i in (0, 5, len(x) - 1):
        single = tiny_screener.classifier.run(batch=x[i : i + 1])
        np.testing.assert_allclose(single.probabilities[0], batch.probabilities[i], atol=1e-5)
        np.testing.assert_allclose(single.cams[0], batch.cams[i], atol=1e-4)


def test_outputs_differ_and_are_probabilities(tiny_screener, toy_images):
    probs = tiny_screener.classify_batch(batch=_inputs(tiny_screener, toy_images))
    assert probs.shape == (12, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.ptp(probs, axis=0).max() > 0.05  # a trained model: outputs depend on the input


def test_classify_batch_accepts_raw_images(tiny_screener, toy_images):
    raw = [img for imgs in toy_images.values() for img in imgs]
    np.testing.assert_allclose(
        tiny_screener.classify_batch(batch=raw),
        tiny_screener.classify_batch(batch=_inputs(tiny_screener, toy_images)),
        atol=1e-5,
    )


def test_temperature_applied_from_card(tiny_screener, toy_images):
    out = tiny_screener.classifier.run(batch=_inputs(tiny_screener, toy_images)[:3])
    z = out.logits / tiny_screener.card.temperature
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(out.probabilities, expected, atol=1e-5)


def test_temperature_fit_recovers_known_t():
    rng = np.random.default_rng(0)
    n, true_t = 4000, 2.5
    base = rng.normal(0, 2.0, (n, 3))
    p = np.exp(base) / np.exp(base).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in p])
    logits = base * true_t  # over-confident by a factor true_t
    t = temperature_fit(logits=logits, labels=labels)
    assert abs(t - true_t) < 0.25
    assert nll_at_temperature(logits=logits, labels=labels, temperature=t) < nll_at_temperature(
        logits=logits, labels=labels, temperature=1.0
    )


def _shifted(x: np.ndarray, shift: int) -> np.ndarray:
    """Move a (B, S, S) batch by `shift` px down and right (negative: up and left), zero-fill."""
    out = np.zeros_like(x)
    s, size = abs(shift), x.shape[1]
    if shift > 0:
        out[:, s:, s:] = x[:, : size - s, : size - s]
    else:
        out[:, : size - s, : size - s] = x[:, s:, s:]
    return out


def test_view_shift_averages_two_shifted_views(tiny_screener, tiny_network, toy_images):
    from mlcore.classifier import Classifier

    x = _inputs(tiny_screener, toy_images)
    model, t = tiny_network, tiny_screener.card.temperature
    single = Classifier(model=model, temperature=t, view_shift=0)
    two = Classifier(model=model, temperature=t, view_shift=3).run(batch=x)
    plus, minus = single.run(batch=_shifted(x, 3)), single.run(batch=_shifted(x, -3))
    np.testing.assert_allclose(two.logits, (plus.logits + minus.logits) / 2, atol=1e-4)
    np.testing.assert_allclose(two.features, (plus.features + minus.features) / 2, atol=1e-4)
    np.testing.assert_allclose(two.cams, (plus.cams + minus.cams) / 2, atol=1e-4)
    # One row per input image, and calibrated probabilities of the averaged logits.
    assert two.probabilities.shape == (len(x), 3) and two.cams.shape[0] == len(x)
    z = two.logits / t
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(two.probabilities, expected / expected.sum(1, keepdims=True), 1e-5)


def test_view_shift_out_of_range_is_refused(tiny_screener, tiny_network):
    import pytest

    from mlcore.classifier import Classifier
    from mlcore.errors import ModelUnavailableError

    size = tiny_screener.classifier.input_size
    with pytest.raises(ModelUnavailableError, match="view_shift"):
        Classifier(model=tiny_network, view_shift=size // 4)


def _net_with_texture_blocks():
    """A small functional net carrying the layer names a Lite0 trunk has (no weights file)."""
    import keras
    from keras import layers

    image = keras.Input((32, 32, 1), name="image")
    x = image
    for i, (block, stride) in enumerate(
        [("block2_add", 2), ("block4_add", 2), ("block7_add", 1), ("block10_add", 1)]
    ):
        y = layers.Conv2D(4 + 2 * i, 3, strides=stride, padding="same", activation="relu")(x)
        z = layers.Conv2D(4 + 2 * i, 1, padding="same")(y)
        x = layers.Add(name=block)([y, z])
    x = layers.Identity(name="cam_features")(x)
    pooled = layers.GlobalAveragePooling2D()(x)
    outputs = [layers.Dense(3, name="disease")(pooled), layers.Dense(2, name="gate")(pooled)]
    return keras.Model(image, outputs)


def test_the_middle_layers_give_per_channel_means_then_spreads():
    import keras

    from mlcore.classifier import Classifier, texture_layers_find

    net = _net_with_texture_blocks()
    assert texture_layers_find(net=net) == ["block2_add", "block4_add", "block7_add", "block10_add"]
    x = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    out = Classifier(model=net).run(batch=x)
    middle = keras.Model(
        net.inputs, [net.get_layer(n).output for n in texture_layers_find(net=net)]
    )
    maps = [np.asarray(m) for m in middle(x)]
    expected = np.concatenate(
        [m.mean(axis=(1, 2)) for m in maps] + [m.std(axis=(1, 2)) for m in maps], axis=1
    )
    assert out.texture.shape == (3, 2 * (4 + 6 + 8 + 10))
    np.testing.assert_allclose(out.texture, expected, atol=1e-4)


def test_a_net_without_those_layers_has_no_texture(tiny_screener, toy_images):
    out = tiny_screener.classifier.run(batch=_inputs(tiny_screener, toy_images)[:2])
    assert out.texture is None
