"""`python -m training train` and `evaluate` end to end on a generated data set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import module_run
from tests.support.services import REPO_ROOT

# A net and a gate set small enough to train one epoch in seconds.
TINY_TRAIN = ("--backbone", "cxrnet", "--image-size", "48", "--width", "0.25", "--batch-size", "8")
TINY_GATE = ("--synthetic", "8", "--no-ood")
CARD_KEYS = {
    "name",
    "version",
    "labels",
    "input_size",
    "preprocessing",
    "temperature",
    "gate",
    "training",
    "evaluation",
    "created_utc",
    "git_commit",
}
CXR_KEYS = {
    "n",
    "accuracy",
    "balanced_accuracy",
    "macro_auc",
    "ece",
    "per_class",
    "per_source",
    "covid_vs_rest_auc_within_source",
    "covid_sensitivity_at_95_specificity",
}


def run(args):
    return module_run(module="training", args=args, timeout=600)


def tiny_train(*, out: Path, data: Path, extra: tuple[str, ...], epochs: int = 1) -> dict:
    """Train the tiny net with `extra` options; return its card."""
    proc = run(
        [
            *("train", "--data", data, "--out", out, "--epochs", epochs),
            *TINY_TRAIN,
            *TINY_GATE,
            *extra,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "card.json").read_text())


@pytest.mark.slow
def test_train_then_evaluate(tmp_path, toy_data):
    out = tmp_path / "weights" / "toy-m"
    card = tiny_train(
        out=out,
        data=toy_data,
        extra=("--swa-start", "0.5", "--select", "swa", "--view-shift", "4"),
        epochs=2,
    )
    assert set(card) >= CARD_KEYS
    assert card["input_size"] == 48 and card["training"]["split_sha256"]
    # Weight averaging ran on the second epoch (swa_start 0.5 of 2 epochs) and was shipped.
    assert [r["averaged_epochs"] for r in card["training"]["history"]] == [0, 0, 2]
    assert card["training"]["best_averaged_epochs"] == 2
    assert (out / "model.keras").stat().st_size < 500_000 and (out / "gate_stats.npz").is_file()
    assert card["view_shift"] == 4  # test-time views, fitted with calibration

    report_dir = tmp_path / "report"
    proc = run(
        [
            *("evaluate", "--model", "toy-m", "--weights-dir", out.parent),
            *("--data", toy_data, "--split", "test", "--report", report_dir),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert {"headline", "cxr", "gate", "shortcut", "heatmaps"} <= set(report)
    cxr = report["cxr"]
    assert set(cxr) >= CXR_KEYS
    n_test = sum(
        1 for line in (toy_data / "metadata.csv").read_text().splitlines() if ",test," in line
    )
    assert report["n"] == cxr["n"] == report["gate"]["n"] == n_test > 0
    assert set(cxr["per_class"]["covid"]) >= {"sensitivity", "specificity", "ppv", "auc"}
    assert 0.0 <= report["gate"]["accept_rate"] <= 1.0
    assert report["headline"]["cxr_macro_auc"] == cxr["macro_auc"]
    lungs = report["shortcut"]["cam_outside_lungs"]
    assert 0.0 < lungs["uniform_map"] < 1.0 and lungs["by_source"]
    assert 0.0 <= report["heatmaps"]["all"] <= 1.0 and report["heatmaps"]["by_source"]
    for name in ("report.md", "confusion_matrix.png", "roc.png", "reliability.png", "heatmaps.png"):
        assert (report_dir / name).stat().st_size > 0


@pytest.mark.slow
def test_evaluate_with_csv_without_split(tmp_path, toy_data):
    rows = (toy_data / "metadata.csv").read_text().splitlines()
    (tmp_path / "few.csv").write_text(
        "file,label\n" + "\n".join(",".join(r.split(",")[:2]) for r in rows[1:8]) + "\n"
    )
    proc = run(
        [
            "evaluate",
            "--model",
            "tiny",
            "--weights-dir",
            REPO_ROOT / "tests/fixtures/models",
            "--data",
            toy_data,
            "--csv",
            tmp_path / "few.csv",
            "--report",
            tmp_path / "r",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["n"] == 7 and "all" in report["cxr"]["per_source"]


@pytest.mark.slow
def test_train_with_source_adversary_ships_a_plain_model(tmp_path, toy_data):
    import keras

    out = tmp_path / "weights" / "adv-m"
    card = tiny_train(out=out, data=toy_data, extra=("--source-adversary", "0.5"))
    assert card["training"]["source_adversary"] == 0.5
    # The source head is a training aid only: the shipped model has the two inference heads.
    model = keras.saving.load_model(out / "model.keras", compile=False)
    assert sorted(model.output) == ["disease", "gate"]
    assert "source" not in {layer.name for layer in model.layers}


@pytest.mark.slow
def test_train_with_flip_mixup_a_source_weight_and_a_data_seed_records_them(tmp_path, toy_data):
    out = tmp_path / "weights" / "mix-m"
    extra = ("--flip", "--mixup", "0.4", "--source-weight", "a=3")
    card = tiny_train(out=out, data=toy_data, extra=(*extra, "--data-seed", "5"))
    assert card["training"]["flip"] is True and card["training"]["mixup"] == 0.4
    assert card["training"]["seed"] == 0 and card["training"]["data_seed"] == 5
    assert card["training"]["source_weights"] == [["a", 3.0]]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cohen", "expected SOURCE=WEIGHT"),
        ("cohen=x", "expected SOURCE=WEIGHT"),
        ("cohen=0", "the weight must be > 0"),
    ],
)
def test_train_refuses_a_malformed_source_weight(tmp_path, toy_data, value, message):
    proc = run(
        [
            *("train", "--data", toy_data, "--out", tmp_path / "m", "--epochs", "1"),
            *("--source-weight", value, "--no-ood"),
        ]
    )
    assert proc.returncode != 0
    assert message in proc.stderr


def test_train_refuses_mixup_with_source_adversary(tmp_path, toy_data):
    proc = run(
        [
            *("train", "--data", toy_data, "--out", tmp_path / "m", "--epochs", "1"),
            *("--mixup", "0.4", "--source-adversary", "0.5", "--no-ood"),
        ]
    )
    assert proc.returncode != 0
    assert "--mixup and --source-adversary" in proc.stderr


def test_train_refuses_a_negative_mixup(tmp_path, toy_data):
    proc = run(
        [
            *("train", "--data", toy_data, "--out", tmp_path / "m", "--epochs", "1"),
            *("--mixup", "-0.2", "--no-ood"),
        ]
    )
    assert proc.returncode != 0
    assert "--mixup must be >= 0" in proc.stderr


def test_train_refuses_a_negative_data_seed(tmp_path, toy_data):
    proc = run(
        [
            *("train", "--data", toy_data, "--out", tmp_path / "m", "--epochs", "1"),
            *("--data-seed", "-1", "--no-ood"),
        ]
    )
    assert proc.returncode != 0
    assert "--data-seed must be >= 0, not -1" in proc.stderr
    assert not (tmp_path / "m").exists()


def model_copy(*, model: Path, out: Path) -> dict:
    """Copy a finished model folder to `out`; return its card."""
    import shutil

    shutil.copytree(model, out)
    return json.loads((out / "card.json").read_text())


@pytest.mark.slow
def test_recalibrate_refits_views_without_touching_weights(tmp_path, toy_data, one_view_model):
    out = tmp_path / "weights" / "toy-r"
    before = model_copy(model=one_view_model, out=out)
    weights = (out / "model.keras").read_bytes()
    stats = (out / "gate_stats.npz").read_bytes()

    proc = run(
        [
            *("recalibrate", "--model-dir", out, "--data", toy_data, "--view-shift", "3"),
            *("--version", "2.0.0", *TINY_GATE),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((out / "card.json").read_text())
    assert after["view_shift"] == 3 and after["version"] == "2.0.0"
    assert after["training"]["recalibrated"]["from_version"] == before["version"]
    assert after["training"]["history"] == before["training"]["history"]
    assert after["temperature"] != before["temperature"]
    assert set(after["evaluation"]) == set(before["evaluation"])
    assert (out / "model.keras").read_bytes() == weights
    assert (out / "gate_stats.npz").read_bytes() != stats

    # Other data than the card's split hash names is refused with a message.
    other = tmp_path / "other"
    other.mkdir()
    rows = (toy_data / "metadata.csv").read_text().splitlines()
    fewer = [r for r in rows if ",train" not in r] + [r for r in rows if ",train" in r][1:]
    (other / "metadata.csv").write_text("\n".join(fewer) + "\n")
    proc = run(
        ["recalibrate", "--model-dir", out, "--data", other, "--view-shift", "0", *TINY_GATE]
    )
    assert proc.returncode != 0 and "not the data" in proc.stderr

    # A shift the input size cannot take is refused before any work, naming the range.
    proc = run(["recalibrate", "--model-dir", out, "--data", toy_data, "--view-shift", "12"])
    assert proc.returncode != 0 and "--view-shift must be 0 to 11 for a 48 px model" in proc.stderr
    proc = run(
        [
            "train",
            "--data",
            toy_data,
            "--out",
            tmp_path / "x",
            "--image-size",
            "16",
            "--view-shift",
            "4",
        ]
    )
    assert proc.returncode != 0 and "--view-shift must be 0 to 3 for a 16 px model" in proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_train_lite0_from_imagenet_keeps_frozen_layers(tmp_path, toy_data):
    import keras
    import numpy as np

    from training.model import lite_classifier_build
    from training.pretrained.efficientnet_lite import imagenet_weights_load

    out = tmp_path / "weights" / "lite-m"
    proc = run(
        [
            *("train", "--data", toy_data, "--out", out, "--epochs", "1"),
            *("--image-size", "64", "--batch-size", "8", *TINY_GATE),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["backbone"] == "efficientnet-lite0" and card["training"]["pretrained"]
    trained = keras.saving.load_model(out / "model.keras", compile=False)
    imagenet = lite_classifier_build(input_size=64)
    imagenet_weights_load(model=imagenet)
    for name in ("stem_conv", "block2_dw_conv"):  # frozen: still ImageNet's
        got, want = trained.get_layer(name).get_weights(), imagenet.get_layer(name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    moved = trained.get_layer("block10_dw_conv").get_weights()[0]
    assert not np.array_equal(moved, imagenet.get_layer("block10_dw_conv").get_weights()[0])
    # The file itself says which layers were frozen.
    assert not trained.get_layer("stem_conv").trainable
    assert trained.get_layer("block10_dw_conv").trainable


@pytest.mark.slow
def test_lung_crop_model_then_gate2_screens_with_lung_fields(tmp_path):
    from mlcore.pipeline import Screener
    from training.segment import unet_build
    from training.toydata import toy_dataset_write

    # Films above the rules' smallest side, so that the gate's val films reach its fit.
    toy_data = toy_dataset_write(root=tmp_path / "toy", n_per_class=10, seed=2, size=112)
    lungs = tmp_path / "lungs"
    lungs.mkdir()
    unet_build(width=2).save(lungs / "lungs.keras")
    out = tmp_path / "weights" / "crop-m"
    card = tiny_train(out=out, data=toy_data, extra=("--lung-crop", lungs))
    assert card["lung_crop"] is True and (out / "lungs.keras").is_file()

    proc = run(
        [
            *("gate", "--model-dir", out, "--data", toy_data, "--ood", tmp_path / "no-ood"),
            *("--refit-draws", "1", "--version", "9.9.1"),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    report = card["evaluation"]["gate2"]
    assert card["version"] == "9.9.1" and card["training"]["gate_refitted"]["from_version"]
    assert report["refits"]["draws"] == 1
    assert {"frontal_min", "lung_side_min", "lung_side_max"} <= set(card["gate"])
    assert report["test"]["chest_n"] > 0 and report["kinds"][0] == "frontal_cxr"
    assert (out / "gate.npz").stat().st_size < 100_000

    screener = Screener.load(name="crop-m", weights_dir=out.parent)
    assert screener.segmenter is not None and screener.gate_model is not None
    film = (toy_data / "images").glob("*.png").__next__().read_bytes()
    result = screener.screen(data=film, filename="x.png")
    assert result.lung_fields is not None
    assert result.accepted or result.reason


@pytest.mark.slow
def test_ensemble_merges_members_into_one_model_averaging_their_logits(
    tmp_path, toy_data, one_view_model
):
    import keras
    import numpy as np

    from mlcore.card import card_load
    from mlcore.classifier import Classifier, keras_model_load
    from mlcore.ensemble import model_network_load

    members = [tmp_path / "weights" / f"toy-{seed}" for seed in (0, 1)]
    model_copy(model=one_view_model, out=members[0])
    # A second member with other weights, without a second training run.
    model_copy(model=one_view_model, out=members[1])
    # Its later layers only, as training leaves a frozen start unchanged.
    other = keras_model_load(path=members[1] / "model.keras")
    rng = np.random.default_rng(1)
    convs = [la for la in other.layers if isinstance(la, (keras.layers.Conv2D, keras.layers.Dense))]
    for layer in convs[len(convs) // 2 :]:
        layer.set_weights([w + rng.normal(0, 0.05, w.shape) for w in layer.get_weights()])
    other.save(members[1] / "model.keras")
    # The first member's lung segmenter figures travel with its lungs.keras; its other
    # figures are not the ensemble's.
    first = json.loads((members[0] / "card.json").read_text())
    segmenter = {"dice_test": 0.96, "n_test": 113}
    first["evaluation"] |= {"lung_segmenter": segmenter, "figures": {"cxr_macro_auc": 0.9}}
    (members[0] / "card.json").write_text(json.dumps(first))
    out = tmp_path / "weights" / "toy-ens"
    proc = run(
        [
            *("ensemble", "--members", *members, "--out", out, "--data", toy_data),
            *("--name", "toy-ens", "--version", "9.0.0", *TINY_GATE),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["name"] == "toy-ens" and card["version"] == "9.0.0"
    assert [m["folder"] for m in card["training"]["ensemble"]] == ["toy-0", "toy-1"]
    assert set(card["evaluation"]) >= {"val", "test"} and "figures" not in card["evaluation"]
    assert card["evaluation"]["lung_segmenter"] == segmenter
    assert card["operating_points"] == {} and card["default_operating_point"] == ""

    # Each member ships as its own file; the averaging graph is built at load.
    assert card["members"] == ["member-0.keras", "member-1.keras"]
    assert not (out / "model.keras").exists()
    for member, source in zip(card["members"], members, strict=True):
        assert (out / member).read_bytes() == (source / "model.keras").read_bytes()
    x = np.random.default_rng(0).normal(size=(3, 48, 48, 1)).astype("float32")
    outs = [keras_model_load(path=d / "model.keras")(x, training=False) for d in members]
    merged = model_network_load(folder=out, card=card_load(path=out / "card.json"))
    assert not any(isinstance(layer, keras.Model) for layer in merged.layers)
    # The unchanged start runs once, shared; each member's own layers branch from it.
    names = [layer.name for layer in merged.layers]
    assert any(n.startswith("shared_") for n in names) and any(n.startswith("m1_") for n in names)
    assert card["training"]["params"] == merged.count_params()
    mean = np.mean([keras.ops.convert_to_numpy(o["disease"]) for o in outs], axis=0)
    got = keras.ops.convert_to_numpy(merged(x, training=False)["disease"])
    np.testing.assert_allclose(got, mean, atol=1e-4)
    # The portal's classifier runs it unchanged: one CAM over both trunks' maps.
    result = Classifier(model=merged, temperature=1.0).run(batch=x)
    np.testing.assert_allclose(result.logits, mean, atol=1e-4)
    widths = [keras_model_load(path=d / "model.keras").get_layer("cam_features") for d in members]
    assert result.features.shape[1] == sum(w.output.shape[-1] for w in widths)

    proc = run(
        [
            *("ensemble", "--members", members[0], "--out", tmp_path / "one", "--data", toy_data),
            *("--name", "x", "--version", "1", *TINY_GATE),
        ]
    )
    assert proc.returncode != 0 and "two or more members" in proc.stderr
