"""Batch augmentation on preprocessed (B, S, S, 1) arrays, as a tf.data map.

Aimed at the source shortcut: random crops/zoom-outs and letterbox bands make cropping and
padding style uninformative; corner patches mimic burned-in markers on every source;
contrast/gamma/blur/noise/JPEG vary the acquisition look.
"""

from __future__ import annotations

import tensorflow as tf


def _crop_boxes(batch: int, strength: float = 1.0) -> tf.Tensor:
    """Random boxes (y0, x0, y1, x1) in [-0.12, 1.12]: zoom in or out, mild aspect jitter."""
    side = tf.random.uniform([batch], 1.0 - 0.28 * strength, 1.0 + 0.12 * strength)
    aspect = tf.exp(tf.random.uniform([batch], -0.12 * strength, 0.12 * strength + 1e-6))
    hh, ww = side * tf.sqrt(aspect), side / tf.sqrt(aspect)
    cy = 0.5 + tf.random.uniform([batch], -0.08 * strength, 0.08 * strength + 1e-6)
    cx = 0.5 + tf.random.uniform([batch], -0.08 * strength, 0.08 * strength + 1e-6)
    return tf.stack([cy - hh / 2, cx - ww / 2, cy + hh / 2, cx + ww / 2], axis=1)


def _rotate(images: tf.Tensor, max_rad: float) -> tf.Tensor:
    """Rotate each image by a small random angle (bilinear projective transform)."""
    b = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    ang = tf.random.uniform([b], -max_rad, max_rad)
    c, s = tf.cos(ang), tf.sin(ang)
    ctr = (size - 1) / 2
    # Output->input mapping about the centre.
    tx = ctr - c * ctr + s * ctr
    ty = ctr - s * ctr - c * ctr
    zeros = tf.zeros_like(c)
    transforms = tf.stack([c, -s, tx, s, c, ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _letterbox(images: tf.Tensor) -> tf.Tensor:
    """Zero random top/bottom or left/right bands (the padding of other aspect ratios)."""
    b = tf.shape(images)[0]
    size = tf.shape(images)[1]
    band = tf.random.uniform([b, 1], 0.0, 0.18)
    pos = (tf.cast(tf.range(size), tf.float32) + 0.5) / tf.cast(size, tf.float32)
    inside = tf.cast((pos >= band) & (pos <= 1.0 - band), tf.float32)  # (b, size)
    vertical = tf.random.uniform([b, 1, 1, 1]) < 0.5
    rows = tf.reshape(inside, [b, -1, 1, 1])
    cols = tf.reshape(inside, [b, 1, -1, 1])
    mask = tf.where(vertical, rows * tf.ones_like(cols), cols * tf.ones_like(rows))
    use = tf.cast(tf.random.uniform([b, 1, 1, 1]) < 0.4, tf.float32)
    return images * (use * mask + (1 - use))


def _corner_patch(images: tf.Tensor) -> tf.Tensor:
    """Paint a bright or dark rectangle into a random corner (like text/markers), p=0.5."""
    b = tf.shape(images)[0]
    size = tf.shape(images)[1]
    pos = (tf.cast(tf.range(size), tf.float32) + 0.5) / tf.cast(size, tf.float32)
    ph = tf.random.uniform([b, 1], 0.05, 0.2)
    pw = tf.random.uniform([b, 1], 0.05, 0.3)
    top = tf.random.uniform([b, 1]) < 0.5
    left = tf.random.uniform([b, 1]) < 0.5
    inset = tf.random.uniform([b, 1], 0.0, 0.08)
    rows = tf.where(
        top, (pos >= inset) & (pos < inset + ph), (pos <= 1 - inset) & (pos > 1 - inset - ph)
    )
    cols = tf.where(
        left, (pos >= inset) & (pos < inset + pw), (pos <= 1 - inset) & (pos > 1 - inset - pw)
    )
    box = tf.cast(rows[:, :, None] & cols[:, None, :], tf.float32)[..., None]
    value = tf.random.uniform([b, 1, 1, 1], -2.0, 3.0)
    use = tf.cast(tf.random.uniform([b, 1, 1, 1]) < 0.5, tf.float32)
    box = box * use
    return images * (1 - box) + value * box


def _photometric(images: tf.Tensor, strength: float = 1.0) -> tf.Tensor:
    """Gamma-like curve, contrast, brightness, blur and noise on z-scored pixels."""
    b = tf.shape(images)[0]
    shape = [b, 1, 1, 1]
    content = tf.cast(tf.not_equal(images, 0.0), tf.float32)

    def jitter(width: float) -> tf.Tensor:
        return tf.random.uniform(shape, -width * strength, width * strength + 1e-6)

    x = images + jitter(0.35) * (tf.square(images) - 1.0) / 3.0
    x = x * (1.0 + jitter(0.2)) + jitter(0.25)
    blurred = tf.nn.avg_pool2d(x, 3, 1, "SAME")
    use_blur = tf.cast(tf.random.uniform(shape) < 0.25 * strength, tf.float32)
    x = use_blur * blurred + (1 - use_blur) * x
    x = x + tf.random.normal(tf.shape(x)) * tf.random.uniform(shape, 0.0, 0.12 * strength + 1e-6)
    # Keep the padding exactly zero, as at inference.
    return tf.clip_by_value(x, -4.0, 4.0) * content


def _jpeg(image: tf.Tensor) -> tf.Tensor:
    """Round-trip one (S, S, 1) image through JPEG at a random quality."""
    u = tf.clip_by_value((image + 3.0) / 6.0, 0.0, 1.0)
    q = tf.image.random_jpeg_quality(u, 30, 95)
    return q * 6.0 - 3.0


def batch_mixup(
    *, images: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, alpha: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mix each radiograph with a random partner of the batch; return images and soft targets.

    Only pairs of two radiographs (disease weight > 0) are mixed: a gate negative carries no
    disease label to mix. The mixing weight is Beta(alpha, alpha), folded to >= 0.5 so the
    image keeps its own gate label and sample weight.
    """
    b = tf.shape(images)[0]
    g1 = tf.random.gamma([b], alpha)
    g2 = tf.random.gamma([b], alpha)
    lam = g1 / (g1 + g2 + 1e-12)
    lam = tf.maximum(lam, 1.0 - lam)
    partner = tf.random.shuffle(tf.range(b))
    both = (weights > 0) & (tf.gather(weights, partner) > 0)
    lam = tf.where(both, lam, 1.0)
    li = lam[:, None, None, None]
    mixed = li * images + (1.0 - li) * tf.gather(images, partner)
    lt = lam[:, None]
    soft = lt * targets + (1.0 - lt) * tf.gather(targets, partner)
    return mixed, soft


def batch_augment(images: tf.Tensor, *, flip: bool = False, strength: float = 1.0) -> tf.Tensor:
    """Augment a float32 (B, S, S, 1) batch; output has the same shape.

    `strength` scales the zoom, shift, rotation and acquisition-look ranges (1 = the shipped
    recipe); the letterbox bands and corner patches, aimed at the source shortcut, stay.
    """
    b = tf.shape(images)[0]
    size = tf.shape(images)[1:3]
    x = _photometric(images, strength)
    if flip:
        mirrored = tf.random.uniform([b, 1, 1, 1]) < 0.5
        x = tf.where(mirrored, tf.reverse(x, axis=[2]), x)
    x = tf.image.crop_and_resize(
        x, _crop_boxes(b, strength), tf.range(b), size, method="bilinear", extrapolation_value=0.0
    )
    x = _rotate(x, max_rad=0.17 * strength)
    x = _letterbox(x)
    x = _corner_patch(x)
    use_jpeg = tf.random.uniform([b]) < 0.2 * strength
    x = tf.where(use_jpeg[:, None, None, None], tf.map_fn(_jpeg, x), x)
    return tf.ensure_shape(x, images.shape)
