"""A compact depthwise-separable CNN with a disease head and an input-gate head.

Trunk -> last conv map "cam_features" -> GlobalAveragePooling -> Dropout -> Dense "disease"
(3 logits) and Dense "gate" (5 logits). GAP + linear head makes Grad-CAM exact in one pass.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mlcore.ensemble import heads_attach

# (filters, stride) per separable block; stride-16 trunk so Grad-CAM is 12x12 at 192 px.
# Fast-moving BN statistics: with ~60 steps per epoch the default 0.99 lags for many epochs
# and the eval-mode network then gives the same answer for every input.
BN_MOMENTUM = 0.9

# Early downsampling keeps batch-1 CPU latency under ~10 ms.
BLOCKS = (
    (48, 2),
    (64, 1),
    (128, 2),
    (128, 1),
    (128, 1),
    (256, 2),
    (256, 1),
    (256, 1),
)


def blur_pool(x, *, name: str):
    """Low-pass (binomial 3x3) then subsample by 2: anti-aliased downsampling.

    A fixed, untrainable depthwise kernel: a plain Keras layer, so the .keras file needs no
    custom objects (Zhang, "Making Convolutional Networks Shift-Invariant Again", 2019).
    """
    channels = x.shape[-1]
    taps = np.array([1.0, 2.0, 1.0])
    kernel = np.outer(taps, taps) / 16.0
    blur = layers.DepthwiseConv2D(
        3,
        strides=2,
        padding="same",
        use_bias=False,
        depthwise_initializer=keras.initializers.Constant(
            np.repeat(kernel[:, :, None, None], channels, axis=2)
        ),
        trainable=False,
        name=name,
    )
    return blur(x)


def _sep_block(x, *, filters: int, stride: int, name: str, antialias: bool = False):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN (+ residual) -> ReLU.

    With `antialias`, a stride-2 block runs its depthwise conv at stride 1 and downsamples
    after the ReLU through `blur_pool`.
    """
    blurred = antialias and stride == 2
    y = layers.DepthwiseConv2D(
        3,
        strides=1 if blurred else stride,
        padding="same",
        use_bias=False,
        # he_normal: Keras' default depthwise init gives near-constant outputs in deep nets.
        depthwise_initializer="he_normal",
        name=f"{name}_dw",
    )(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(name=f"{name}_dw_relu")(y)
    if blurred:
        y = blur_pool(y, name=f"{name}_blur")
    y = layers.Conv2D(
        filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"{name}_pw"
    )(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pw_bn")(y)
    if stride == 1 and x.shape[-1] == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_relu")(y)


def lite_classifier_build(
    *,
    input_size: int,
    n_classes: int = 3,
    n_gate: int = 5,
    dropout: float = 0.3,
    variant: str = "lite0",
) -> keras.Model:
    """Return the (uncompiled) EfficientNet-Lite two-head model, grey input, random weights."""
    from training.pretrained.efficientnet_lite import trunk_build

    image = keras.Input((input_size, input_size, 1), name="image")
    return heads_attach(
        image=image,
        features=trunk_build(image=image, variant=variant),
        n_classes=n_classes,
        n_gate=n_gate,
        dropout=dropout,
        name=f"cxrnet_{variant}",
    )


def classifier_build(
    *,
    input_size: int,
    n_classes: int = 3,
    n_gate: int = 5,
    width: float = 1.0,
    dropout: float = 0.3,
    antialias: bool = False,
) -> keras.Model:
    """Return the (uncompiled) two-head model; input (input_size, input_size, 1) float32."""
    inp = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Conv2D(
        max(8, int(24 * width)), 3, strides=2, padding="same", use_bias=False, name="stem"
    )(inp)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate(BLOCKS):
        x = _sep_block(
            x,
            filters=max(8, int(filters * width)),
            stride=stride,
            name=f"b{i}",
            antialias=antialias,
        )
    return heads_attach(
        image=inp, features=x, n_classes=n_classes, n_gate=n_gate, dropout=dropout, name="cxrnet"
    )


class GradientReversal(layers.Layer):
    """Identity forward; gradient times -scale backward (domain-adversarial training)."""

    def __init__(self, *, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        import tensorflow as tf

        @tf.custom_gradient
        def reverse(t):
            return tf.identity(t), lambda dy: -self.scale * dy

        return reverse(x)


def adversary_attach(*, model: keras.Model, n_sources: int, scale: float) -> keras.Model:
    """Wrap `model` for training with a source head fed reversed gradients.

    The head sees the pooled features and the true label, so it can only profit from source
    information beyond the label: the trunk is pushed to drop that (child vs adult anatomy,
    scanner, figure style) and keep what the label needs. Shares the layers of `model`.
    """
    n_classes = model.get_layer("disease").units
    label = keras.Input((n_classes,), name="label")
    reversed_ = GradientReversal(scale=scale, name="grad_reverse")(model.get_layer("gap").output)
    h = layers.Concatenate(name="adv_concat")([reversed_, label])
    h = layers.Dense(64, activation="relu", name="adv_hidden")(h)
    source = layers.Dense(n_sources, name="source")(h)
    return keras.Model(
        {"image": model.inputs[0], "label": label},
        {
            "disease": model.get_layer("disease").output,
            "gate": model.get_layer("gate").output,
            "source": source,
        },
        name="cxrnet_adversarial",
    )
