"""The averaging graph built at load from a model's member files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlcore.errors import ModelUnavailableError
from mlcore.registry import model_card_read, model_files_check

pytestmark = pytest.mark.slow


def _members_folder(*, tmp_path, tiny_weights_dir):
    """Copy the tiny model into a folder whose card lists it and a perturbed copy."""
    import keras

    from mlcore.classifier import keras_model_load

    folder = tmp_path / "ens"
    shutil.copytree(tiny_weights_dir / "tiny", folder)
    first = folder / "model.keras"
    other = keras_model_load(path=first)
    rng = np.random.default_rng(1)
    kinds = (keras.layers.Conv2D, keras.layers.Dense)
    weighted = [la for la in other.layers if isinstance(la, kinds)]
    # Its later layers only, as training leaves a frozen start unchanged.
    for layer in weighted[len(weighted) // 2 :]:
        layer.set_weights([w + rng.normal(0, 0.05, w.shape) for w in layer.get_weights()])
    other.save(folder / "member-1.keras")
    first.rename(folder / "member-0.keras")
    card = json.loads((folder / "card.json").read_text())
    card["members"] = ["member-0.keras", "member-1.keras"]
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_members_load_as_one_graph_averaging_them(tmp_path, tiny_weights_dir):
    import keras

    from mlcore.classifier import Classifier, keras_model_load
    from mlcore.ensemble import model_network_load
    from mlcore.pipeline import Screener

    folder = _members_folder(tmp_path=tmp_path, tiny_weights_dir=tiny_weights_dir)
    card = model_files_check(name="ens", weights_dir=tmp_path)
    merged = model_network_load(folder=folder, card=card)
    size = int(merged.input_shape[1])
    x = np.random.default_rng(0).normal(size=(4, size, size, 1)).astype("float32")
    outs = [keras_model_load(path=folder / m)(x, training=False) for m in card.members]
    mean = np.mean([keras.ops.convert_to_numpy(o["disease"]) for o in outs], axis=0)
    names = [layer.name for layer in merged.layers]
    assert any(n.startswith("shared_") for n in names) and any(n.startswith("m1_") for n in names)
    result = Classifier(model=merged, temperature=1.0).run(batch=x)
    np.testing.assert_allclose(result.logits, mean, atol=1e-4)
    screener = Screener.load(name="ens", weights_dir=tmp_path)
    assert screener.classifier.run(batch=x).features.shape[1] == result.features.shape[1]


def test_a_missing_or_corrupt_member_is_named(tmp_path, tiny_weights_dir):
    folder = _members_folder(tmp_path=tmp_path, tiny_weights_dir=tiny_weights_dir)
    (folder / "member-1.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelUnavailableError, match=r"member-1\.keras is corrupt"):
        model_files_check(name="ens", weights_dir=tmp_path)
    (folder / "member-1.keras").unlink()
    with pytest.raises(ModelUnavailableError, match=r"model file not found: .*member-1\.keras"):
        model_card_read(name="ens", weights_dir=tmp_path)


@pytest.mark.parametrize("member", ["../other/model.keras", "/etc/passwd", ".."])
def test_a_member_outside_the_model_folder_is_refused(tmp_path, tiny_weights_dir, member):
    folder = _members_folder(tmp_path=tmp_path, tiny_weights_dir=tiny_weights_dir)
    card = json.loads((folder / "card.json").read_text())
    card["members"] = ["member-0.keras", member]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelUnavailableError, match="bad member"):
        model_card_read(name="ens", weights_dir=tmp_path)


def test_members_of_different_sizes_are_refused(tmp_path, tiny_weights_dir):
    import keras

    from mlcore.card import card_load
    from mlcore.ensemble import heads_attach, model_network_load

    folder = _members_folder(tmp_path=tmp_path, tiny_weights_dir=tiny_weights_dir)
    card = card_load(path=folder / "card.json")
    image = keras.Input((card.input_size * 2, card.input_size * 2, 1), name="image")
    features = keras.layers.Conv2D(8, 3, strides=16, name="stem")(image)
    other = heads_attach(
        image=image, features=features, n_classes=3, n_gate=5, dropout=0.3, name="other"
    )
    other.save(folder / "member-1.keras")
    with pytest.raises(ModelUnavailableError, match="members: an ensemble needs"):
        model_network_load(folder=folder, card=card)
