"""Gate 2's fit: kinds, thresholds on val, and the leave-one-source-out report."""

from __future__ import annotations

import numpy as np

from mlcore.gatemodel import EVIDENCE_COUNT, FRONTAL_KIND
from training import gatefit
from training.gatefit import (
    gate_fit,
    loso_report,
    pca_fit,
    refused_of,
    split_report,
)
from training.gateitems import GateItems
from training.gaterefits import refits_report

# (kind, source, centre of its features)
GROUPS = [
    (FRONTAL_KIND, "siim", 0.0),
    ("mammogram", "mias", 8.0),
    ("other_radiograph", "ca1len", -4.0),
    ("other_radiograph", "radoss", -3.0),
]


def items_make(*, n: int = 90, seed: int = 0) -> GateItems:
    rng = np.random.default_rng(seed)
    feats, lungs, kinds, sources, splits = [], [], [], [], []
    for kind, source, centre in GROUPS:
        count = n * 3 if kind == FRONTAL_KIND else n
        f = rng.normal(0, 1, (count, 32))
        f[:, :4] += centre
        lung = rng.normal(0.15 if kind == FRONTAL_KIND else 0.02, 0.02, (count, EVIDENCE_COUNT))
        feats.append(f)
        lungs.append(np.clip(lung, 0, 1))
        kinds += [kind] * count
        sources += [source] * count
        splits += list(rng.choice(["train", "val", "test"], count, p=[0.6, 0.2, 0.2]))
    return GateItems(
        np.concatenate(feats).astype(np.float32),
        np.concatenate(lungs).astype(np.float32),
        np.zeros(len(kinds), bool),
        np.array(kinds),
        np.array(sources),
        np.array(splits),
        np.ones(len(kinds), bool),
    )


def test_pca_whitens():
    x = np.random.default_rng(1).normal(0, [5, 1, 0.1], (500, 3))
    mean, axes, scale = pca_fit(features=x, components=2)
    z = ((x - mean) @ axes.T) / scale
    assert axes.shape == (2, 3)
    np.testing.assert_allclose(z.std(axis=0, ddof=1), 1.0, rtol=1e-6)


def test_fit_separates_kinds_and_fits_thresholds():
    items = items_make()
    fitted = gate_fit(items=items)
    assert fitted.model.kinds[0] == FRONTAL_KIND
    assert set(fitted.thresholds) == {
        "frontal_min",
        "mahalanobis_max",
        "novelty_min",
        "lung_side_min",
        "lung_side_max",
    }
    assert fitted.thresholds["lung_side_min"] < 0.15 < fitted.thresholds["lung_side_max"]
    report = split_report(fitted=fitted, items=items, split="test")
    assert report["chest_accepted"] > 0.97 and report["negatives_refused"] == 1.0
    assert set(report["negatives_by_kind"]) == {"mammogram", "other_radiograph"}


def test_rules_refusal_counts_as_refused():
    items = items_make()
    fitted = gate_fit(items=items)
    items.rule_refused[:] = True
    assert refused_of(fitted=fitted, items=items).all()


def test_leave_one_source_out_holds_each_source_apart():
    report = loso_report(items=items_make())
    assert set(report["sources"]) == {"mias", "ca1len", "radoss"}
    assert report["sources"]["mias"]["kinds"] == ["mammogram"]
    # A kind never seen (mammogram) is still far from the chest films: refused by distance.
    assert report["sources"]["mias"]["refused"] > 0.95
    assert report["worst_source"] in report["sources"]


def test_refits_give_the_range_of_the_worst_left_out_figure():
    items = items_make()
    before = items.features.copy()
    report = refits_report(items=items, draws=2, noise=0.05)
    assert report["draws"] == 2 and len(report["worst"]) == 2
    assert all(w["source"] in {"mias", "ca1len", "radoss"} for w in report["worst"])
    refused = [w["refused"] for w in report["worst"]]
    assert report["worst_refused_min"] == min(refused)
    assert report["worst_refused_max"] == max(refused)
    np.testing.assert_array_equal(items.features, before)  # the noise moves copies only


def test_refits_only_adds_the_range_to_the_card_and_leaves_the_gate_as_fitted(tmp_path):
    from mlcore.card import ModelCard, card_load, card_save
    from training.gateitems import gate_items_save
    from training.gaterefits import gate_refits_run

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    gate2 = {"leave_one_source_out": {"worst_source": "mias", "worst_refused": 1.0}}
    card = ModelCard(name="m", version="1", gate={"frontal_min": 0.3}, evaluation={"gate2": gate2})
    card_save(card=card, path=model_dir / "card.json")
    gate_items_save(items=items_make(), path=tmp_path / "items.npz")
    refits = gate_refits_run(
        model_dir=model_dir, data=[], ood=tmp_path, items_cache=tmp_path / "items.npz",
        refit_draws=1,
    )  # fmt: skip
    card = card_load(path=model_dir / "card.json")
    assert card.evaluation["gate2"]["refits"] == refits and refits["draws"] == 1
    assert card.evaluation["gate2"]["leave_one_source_out"] == gate2["leave_one_source_out"]
    assert card.gate == {"frontal_min": 0.3} and not (model_dir / "gate.npz").exists()


def test_two_kinds_give_two_softmax_columns():
    items = items_make()
    keep = np.isin(items.kinds, [FRONTAL_KIND, "mammogram"])
    fitted = gate_fit(items=items.subset(keep))
    assert fitted.model.kinds == (FRONTAL_KIND, "mammogram")
    assert fitted.model.weights.shape[1] == 2 and fitted.model.bias.shape == (2,)
    report = split_report(fitted=fitted, items=items.subset(keep), split="test")
    assert report["chest_accepted"] > 0.97 and report["negatives_refused"] == 1.0


def test_novelty_refuses_features_off_the_chest_films_axes(monkeypatch):
    monkeypatch.setattr(gatefit, "COMPONENTS", 8)  # of 32 feature dims: a residual exists
    items = items_make()
    fitted = gate_fit(items=items)
    chest = items.subset((items.splits == "test") & ~items.negative)
    # Moved off the chest films' principal axes only: what the kind classifier and the
    # whitened distance read is unchanged, the residual is not.
    axes = fitted.model.components
    away = np.random.default_rng(5).normal(size=axes.shape[1]).astype(np.float32)
    away -= axes.T @ (axes @ away)
    odd = chest.subset(np.arange(len(chest.kinds)) < 20)
    odd.features[:] += 12.0 * away / np.linalg.norm(away)
    assert np.allclose(
        fitted.model.project(features=odd.features),
        fitted.model.project(features=chest.features[:20]),
        atol=1e-3,
    )
    assert refused_of(fitted=fitted, items=odd).all()
    assert refused_of(fitted=fitted, items=chest).mean() < 0.05
    n_val = int(((items.splits == "val") & ~items.negative).sum())
    assert len(fitted.model.reference_residual) == n_val


def test_a_gate_on_the_first_features_ignores_the_rest():
    """An ensemble's gate may read its first member's features: appended ones change nothing."""
    from dataclasses import replace

    items = items_make()
    fitted = gate_fit(items=items)
    noise = np.random.default_rng(3).normal(0, 50, items.features.shape).astype(np.float32)
    longer = replace(items, features=np.concatenate([items.features, noise], axis=1))
    np.testing.assert_array_equal(
        refused_of(fitted=fitted, items=longer), refused_of(fitted=fitted, items=items)
    )
    np.testing.assert_allclose(
        fitted.model.residual(features=longer.features),
        fitted.model.residual(features=items.features),
    )


def with_texture(items: GateItems, *, seed: int = 7) -> GateItems:
    """Texture rows alike for every item: only the ones a test moves stand out."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    return replace(items, texture=rng.normal(0, 1, (len(items.kinds), 6)).astype(np.float32))


def test_the_texture_term_refuses_what_looks_like_a_chest_film_but_textured_unlike_one(
    monkeypatch,
):
    monkeypatch.setattr(gatefit, "COMPONENTS", 8)  # the novelty needs axes fewer than features
    items = with_texture(items_make())
    fitted = gate_fit(items=items)
    chest = items.subset((items.splits == "test") & ~items.negative)
    assert fitted.model.texture_precision.shape == (6, 6)
    n_val = int(((items.splits == "val") & ~items.negative).sum())
    assert len(fitted.model.reference_texture) == n_val
    assert (np.diff(fitted.model.reference_texture) >= 0).all()
    # The same features as chest films (kinds and axes cannot tell), a texture none had.
    odd = chest.subset(np.arange(len(chest.kinds)) < 20)
    odd.texture[:] += 6.0
    assert refused_of(fitted=fitted, items=odd).all()
    assert refused_of(fitted=fitted, items=chest).mean() < 0.05
    plain = gate_fit(items=items_make())
    assert plain.model.texture_precision is None
    assert not refused_of(fitted=plain, items=odd.subset(np.ones(20, bool))).all()


def test_the_items_cache_keeps_the_texture_and_the_gate_reads_its_choice(tmp_path, capsys):
    from training.gatefit import gate_items_get
    from training.gateitems import gate_items_load, gate_items_save

    items = with_texture(items_make())
    gate_items_save(items=items, path=tmp_path / "items.npz")
    np.testing.assert_array_equal(
        gate_items_load(path=tmp_path / "items.npz").texture, items.texture
    )
    read = {
        texture: gate_items_get(
            model_dir=tmp_path, data=[], ood=tmp_path, items_cache=tmp_path / "items.npz",
            texture=texture,
        ).texture
        for texture in ("off", "means", "means-stds")
    }  # fmt: skip
    assert read["off"] is None
    assert read["means"].shape[1] == 3 and read["means-stds"].shape[1] == 6
    gate_items_save(items=items_make(), path=tmp_path / "old.npz")  # a cache from before
    assert gate_items_load(path=tmp_path / "old.npz").texture is None
    capsys.readouterr()
    gate_items_get(model_dir=tmp_path, data=[], ood=tmp_path, items_cache=tmp_path / "old.npz")
    assert "no texture rows" in capsys.readouterr().err
