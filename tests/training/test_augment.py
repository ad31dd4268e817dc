"""Augmentation: shapes kept, flips mirror, mixup mixes only radiograph pairs."""

from __future__ import annotations

import numpy as np


def test_batch_augment_keeps_shape_and_padding_zero():
    import tensorflow as tf

    from training.augment import batch_augment

    x = np.zeros((6, 32, 32, 1), np.float32)
    x[:, 8:24, 8:24] = 1.0
    out = batch_augment(tf.constant(x), flip=True).numpy()
    assert out.shape == x.shape and np.isfinite(out).all()


def test_flip_mirrors_left_right_only(monkeypatch):
    import tensorflow as tf

    from training import augment

    x = np.zeros((64, 16, 16, 1), np.float32)
    x[:, :, :4] = 1.0  # a bright band on the left
    tf.random.set_seed(0)
    # With the other geometric and photometric steps off, what is left is the flip itself.
    monkeypatch.setattr(augment, "_photometric", lambda t, strength: t)
    monkeypatch.setattr(
        augment,
        "_crop_boxes",
        lambda b, strength: tf.tile(tf.constant([[0.0, 0.0, 1.0, 1.0]]), [b, 1]),
    )
    monkeypatch.setattr(augment, "_rotate", lambda t, max_rad: t)
    out = augment.batch_augment(tf.constant(x), flip=True).numpy()
    left = out[:, 6:10, :4].mean(axis=(1, 2, 3))
    right = out[:, 6:10, -4:].mean(axis=(1, 2, 3))
    mirrored = (right > 0.9) & (left < 0.1)
    kept = (left > 0.9) & (right < 0.1)
    # Letterbox and corner patches can touch the band; most images are one or the other.
    assert 10 <= mirrored.sum() <= 54 and mirrored.sum() + kept.sum() >= 48


def test_mixup_mixes_only_radiograph_pairs_and_keeps_targets_normalised():
    import tensorflow as tf

    from training.augment import batch_mixup

    b = 32
    rng = np.random.default_rng(0)
    images = rng.normal(size=(b, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, b)
    targets = np.eye(3, dtype=np.float32)[labels]
    weights = np.ones(b, np.float32)
    weights[:8] = 0.0  # gate negatives: no disease label
    tf.random.set_seed(1)
    mixed, soft = batch_mixup(
        images=tf.constant(images),
        targets=tf.constant(targets),
        weights=tf.constant(weights),
        alpha=0.4,
    )
    mixed, soft = mixed.numpy(), soft.numpy()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    # Negatives are never mixed, and every image keeps at least half of its own label.
    np.testing.assert_array_equal(mixed[:8], images[:8])
    assert (soft[np.arange(b), labels] >= 0.5 - 1e-6).all()
    assert (np.abs(mixed[8:] - images[8:]).max(axis=(1, 2, 3)) > 0).any()


def test_strength_zero_keeps_zoom_rotation_and_look():
    """At strength 0 only the shortcut-aimed bands and corner patches may change pixels."""
    import numpy as np
    import tensorflow as tf

    from training.augment import batch_augment

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 32, 32, 1)).astype(np.float32)
    tf.random.set_seed(0)
    out = batch_augment(tf.constant(x), strength=0.0).numpy()
    same = np.isclose(out, x, atol=1e-3).mean(axis=(1, 2, 3))
    # Letterbox bands reach 18 % per side, corner patches 30 x 20 %: most pixels stay.
    assert np.median(same) > 0.9 and same.min() > 0.5
    full = batch_augment(tf.constant(x), strength=1.0).numpy()
    assert np.isclose(full, x, atol=1e-3).mean() < 0.5
