"""ImageNet EfficientNet-Lite0 and -Lite1: the state dict reader and the Keras conversion."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from training.pretrained.efficientnet_lite import (
    BN_EPSILON,
    GREY_STEM_SCALE,
    block_specs,
    imagenet_weights_path,
)
from training.pretrained.torch_state import LEGACY_MAGIC, state_dict_read


@pytest.fixture(scope="module")
def state():
    return state_dict_read(path=imagenet_weights_path())


def test_state_dict_holds_lite0(state):
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert len([k for k in state if k.endswith("_depthwise_conv.weight")]) == 16
    assert state["_bn0.running_var"].min() >= 0 < state["_bn0.running_var"].max()


def test_a_checkpoint_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    buf = io.BytesIO()
    for obj in (LEGACY_MAGIC, 1001, {}):
        pickle.dump(obj, buf)
    pickle.dump(Evil(), buf)
    path = tmp_path / "evil.pth"
    path.write_bytes(buf.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        state_dict_read(path=path)


def _same_pad(x: np.ndarray, *, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow 'SAME' padding of an (H, W, C) map: the extra row/column goes last."""
    h = x.shape[0]
    total = max((-(-h // stride) - 1) * stride + kernel - h, 0)
    lo = total // 2
    return np.pad(x, ((lo, total - lo), (lo, total - lo), (0, 0)))


def _windows(x: np.ndarray, *, kernel: int, stride: int) -> np.ndarray:
    """(H', W', C, k, k) sliding windows of a padded map."""
    v = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(0, 1))
    return v[::stride, ::stride]


def _conv(x, w, *, stride):
    """Full conv with a PyTorch (out, in, k, k) kernel."""
    k = w.shape[2]
    win = _windows(_same_pad(x, kernel=k, stride=stride), kernel=k, stride=stride)
    return np.einsum("hwcij,ocij->hwo", win, w)


def _depthwise(x, w, *, stride):
    k = w.shape[2]
    win = _windows(_same_pad(x, kernel=k, stride=stride), kernel=k, stride=stride)
    return np.einsum("hwcij,cij->hwc", win, w[:, 0])


def _bn(x, state, prefix):
    g, b, m, v = (state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var"))
    return (x - m) / np.sqrt(v + BN_EPSILON) * g + b


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def lite_reference(*, state: dict, rgb: np.ndarray, variant: str) -> np.ndarray:
    """The last feature map, computed straight from the PyTorch state dict in numpy."""
    x = _relu6(_bn(_conv(rgb, state["_conv_stem.weight"], stride=2), state, "_bn0"))
    for spec in block_specs(variant=variant):
        p, y = f"_blocks.{spec.index}", x
        if spec.expand != 1:
            y = _relu6(
                _bn(_conv(y, state[f"{p}._expand_conv.weight"], stride=1), state, f"{p}._bn0")
            )
        y = _depthwise(y, state[f"{p}._depthwise_conv.weight"], stride=spec.stride)
        y = _relu6(_bn(y, state, f"{p}._bn1"))
        y = _bn(_conv(y, state[f"{p}._project_conv.weight"], stride=1), state, f"{p}._bn2")
        x = x + y if spec.stride == 1 and spec.filters_in == spec.filters_out else y
    return _relu6(_bn(_conv(x, state["_conv_head.weight"], stride=1), state, "_bn1"))


@pytest.mark.parametrize(("variant", "n_blocks"), [("lite0", 16), ("lite1", 21)])
def test_keras_conversion_matches_the_reference(variant, n_blocks):
    import keras

    from training.model import lite_classifier_build
    from training.pretrained.efficientnet_lite import imagenet_weights_load

    state = state_dict_read(path=imagenet_weights_path(variant=variant))
    assert len([k for k in state if k.endswith("_depthwise_conv.weight")]) == n_blocks
    size = 64
    model = lite_classifier_build(input_size=size, variant=variant)
    # Stem and head (2 + 2 layers), the first block without expansion (4), the rest (6 each).
    assert imagenet_weights_load(model=model, variant=variant) == 2 + 2 + 4 + (n_blocks - 1) * 6
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    grey = (np.sin(yy / 5.0) * np.cos(xx / 7.0) + 0.3 * np.sin((xx + yy) / 3.0)).astype(np.float32)
    trunk = keras.Model(model.inputs, model.get_layer("cam_features").output)
    got = np.asarray(trunk(grey[None, :, :, None], training=False))[0]
    # Three equal channels through the original RGB stem = one channel through the summed one.
    rgb = np.repeat((grey * GREY_STEM_SCALE)[:, :, None], 3, axis=2).astype(np.float64)
    state64 = {k: v.astype(np.float64) for k, v in state.items()}
    want = lite_reference(state=state64, rgb=rgb, variant=variant)
    assert got.shape == want.shape == (2, 2, 1280)
    assert np.abs(got - want).max() <= 1e-3 * max(1.0, np.abs(want).max())
    assert want.std() > 0.05  # the features are not trivially zero or constant


def test_an_unknown_variant_is_named():
    with pytest.raises(ValueError, match=r"lite9.*known"):
        block_specs(variant="lite9")


def test_a_lite1_run_starts_from_lite1s_imagenet_weights_with_its_stages_frozen(tmp_path):
    from training.config import TrainConfig
    from training.train import model_make

    config = TrainConfig(
        data=[tmp_path], out=tmp_path / "out", backbone="efficientnet-lite1", image_size=64
    )
    model = model_make(config=config, pretrained=True)
    state = state_dict_read(path=imagenet_weights_path(variant="lite1"))
    got = model.get_layer("block20_project_conv").get_weights()[0]
    want = np.transpose(state["_blocks.20._project_conv.weight"], (2, 3, 1, 0))
    assert np.array_equal(got, want)
    assert not model.get_layer("block3_dw_conv").trainable
    assert model.get_layer("block4_dw_conv").trainable


def test_the_default_freeze_is_the_stem_and_first_two_stages_of_each_backbone(tmp_path):
    from training.config import TrainConfig, frozen_prefixes_of

    def frozen(**settings):
        return frozen_prefixes_of(config=TrainConfig(data=[tmp_path], out=tmp_path, **settings))

    # Lite0's default is the recipe every shipped network was trained with.
    assert frozen() == ("stem_", "block0_", "block1_", "block2_")
    assert frozen(backbone="efficientnet-lite1") == ("stem_", *(f"block{i}_" for i in range(4)))
    assert frozen(backbone="cxrnet") == ()
    assert frozen(backbone="efficientnet-lite1", freeze=()) == ()
