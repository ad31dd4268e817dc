"""The Screener contract the Celery worker relies on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import ImageError, ModelUnavailableError
from mlcore.pipeline import TIMING_KEYS, Screener
from mlcore.testing import arrays, files


def test_screen_accepted_contract(tiny_screener, toy_png):
    r = tiny_screener.screen(data=toy_png, filename="x.png")
    assert r.accepted is True and r.reason is None
    assert r.label in ("covid", "pneumonia", "normal")
    assert set(r.probabilities) == {"covid", "pneumonia", "normal"}
    assert abs(sum(r.probabilities.values()) - 1) < 1e-5
    assert r.label == max(r.probabilities, key=r.probabilities.get)
    assert r.heatmap.ndim == 2 and r.heatmap.min() >= 0 and r.heatmap.max() <= 1
    img = Image.open(io.BytesIO(r.overlay_jpeg))
    assert img.format == "JPEG" and img.size == (r.heatmap.shape[1], r.heatmap.shape[0])
    assert r.model_name == "tiny" and r.model_version
    assert set(r.timings_ms) == set(TIMING_KEYS) and all(v >= 0 for v in r.timings_ms.values())


def test_overlay_keeps_input_aspect(tiny_screener, toy_images):
    img = np.pad(toy_images["covid"][1], ((0, 0), (0, 0)))
    big = np.kron(img, np.ones((8, 8), np.float32))  # 768 x 832
    r = tiny_screener.screen_array(pixels=big)
    assert max(r.heatmap.shape) == 512
    assert abs(r.heatmap.shape[0] / r.heatmap.shape[1] - big.shape[0] / big.shape[1]) < 0.01


def test_screen_refused_contract(tiny_screener):
    doc = files.png_bytes(pixels=arrays.document_image(size=(300, 220), seed=2))
    r = tiny_screener.screen(data=doc, filename="letter.png")
    assert r.accepted is False and r.reason == "document or screenshot"
    assert (
        r.label is None and r.probabilities is None and r.heatmap is None and r.overlay_jpeg is None
    )


def test_screen_dicom_ct_refused(tiny_screener, toy_images):
    data = files.dicom_bytes(pixels=toy_images["normal"][0], modality="CT")
    assert tiny_screener.screen(data=data, filename="x.dcm").reason == "CT or MR slice"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"body_part": "PELVIS"}, "radiograph of another body part"),
        ({"view_position": "LL"}, "lateral view"),
    ],
)
def test_screen_refuses_what_the_deidentified_header_says(
    tiny_screener, toy_images, tags, expected
):
    from mlcore.deid import dicom_deidentify

    data = files.dicom_bytes(pixels=toy_images["normal"][0], **tags)
    stored = dicom_deidentify(data=data).data
    assert tiny_screener.screen(data=stored, filename="x.dcm").reason == expected


def test_screen_colour_dicom_like_a_png(tiny_screener, toy_images):
    """Greyscale stored as RGB is screened as the film; real colour is the gate's to refuse."""
    film = toy_images["normal"][0]
    as_rgb = tiny_screener.screen(data=files.dicom_bytes(pixels=film, colour=True, bits=8))
    as_grey = tiny_screener.screen(data=files.dicom_bytes(pixels=film, bits=8))
    assert as_rgb.accepted and as_grey.accepted
    for label, p in as_grey.probabilities.items():
        assert as_rgb.probabilities[label] == pytest.approx(p, abs=0.02)
    photo = arrays.colour_photo_like_image(size=(200, 240), seed=1)
    data = files.dicom_bytes(pixels=photo, colour=True, bits=8)
    assert tiny_screener.screen(data=data).reason == "colour photograph"


def test_screen_bad_bytes_raise_image_error(tiny_screener):
    with pytest.raises(ImageError):
        tiny_screener.screen(data=b"definitely not an image", filename="x.png")


def test_screen_many_equals_screen_one_by_one(tiny_screener, toy_images):
    """One batched pass gives each upload what it would get alone; a bad one fails alone."""
    items = [(files.png_bytes(pixels=toy_images[label][1]), f"{label}.png") for label in toy_images]
    items += [
        (b"definitely not an image", "bad.png"),
        (files.png_bytes(pixels=arrays.document_image(size=(300, 220), seed=2)), "letter.png"),
        (files.dicom_bytes(pixels=toy_images["normal"][0], modality="CT"), "ct.dcm"),
        (files.png_bytes(pixels=toy_images["covid"][2]), "last.png"),
    ]
    batched = tiny_screener.screen_many(items=items)
    assert len(batched) == len(items)
    assert isinstance(batched[3], ImageError)
    assert sum(isinstance(r, ImageError) for r in batched) == 1
    assert sum(r.accepted for r in batched if not isinstance(r, ImageError)) >= 4
    for (data, name), many in zip(items, batched, strict=True):
        if isinstance(many, ImageError):
            continue
        one = tiny_screener.screen(data=data, filename=name)
        assert (many.accepted, many.reason, many.label) == (one.accepted, one.reason, one.label)
        assert set(many.timings_ms) == set(TIMING_KEYS)
        assert many.gate_scores == pytest.approx(one.gate_scores, rel=1e-4, abs=1e-4)
        if one.accepted:
            assert many.probabilities == pytest.approx(one.probabilities, abs=1e-5)
            np.testing.assert_allclose(many.heatmap, one.heatmap, atol=1e-4)
            assert Image.open(io.BytesIO(many.overlay_jpeg)).size == (
                one.heatmap.shape[1], one.heatmap.shape[0]
            )  # fmt: skip
    assert tiny_screener.screen_many(items=[]) == []


def test_load_missing_model(tmp_path):
    with pytest.raises(ModelUnavailableError):
        Screener.load(name="absent", weights_dir=tmp_path)


def test_load_takes_test_time_views_from_card(tmp_path, tiny_weights_dir, toy_png):
    import json
    import shutil

    shutil.copytree(tiny_weights_dir / "tiny", tmp_path / "m")
    card_path = tmp_path / "m" / "card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "view_shift": 2}))
    screener = Screener.load(name="m", weights_dir=tmp_path)
    assert screener.classifier.view_shift == 2
    r = screener.screen(data=toy_png, filename="x.png")
    assert r.accepted and abs(sum(r.probabilities.values()) - 1) < 1e-5
    assert r.heatmap.max() <= 1


def test_learned_gate_is_public_and_agrees_with_screen(tiny_screener, toy_images):
    from mlcore.preprocess import radiograph_preprocess

    pixels = toy_images["covid"][0]
    prep = radiograph_preprocess(pixels=pixels, size=tiny_screener.classifier.input_size)
    out = tiny_screener.classifier.run(batch=prep.array[None])
    decision = tiny_screener.gate_learned_check(
        gate_probabilities=out.gate_probabilities[0], features=out.features[0]
    )
    assert decision.accepted is tiny_screener.screen_array(pixels=pixels).accepted
    assert decision.scores["mahalanobis_sq"] >= 0.0


def test_labels_have_one_definition():
    import training.data
    import training.metrics
    from mlcore.card import ModelCard
    from mlcore.labels import GATE_LABELS, LABELS

    assert ModelCard(name="x", version="1").labels == list(LABELS)
    assert training.data.LABELS is LABELS and training.metrics.LABELS is LABELS
    assert GATE_LABELS[0] == "frontal_cxr"


def test_screen_many_without_explanation_skips_the_heatmap(tiny_screener, toy_images):
    items = [(files.png_bytes(pixels=toy_images["covid"][0]), "a.png")]
    explained = tiny_screener.screen_many(items=items)[0]
    bare = tiny_screener.screen_many(items=items, explain=False)[0]
    assert explained.accepted and bare.accepted
    assert explained.heatmap is not None and explained.overlay_jpeg
    assert bare.heatmap is None and bare.overlay_jpeg is None
    assert bare.probabilities == pytest.approx(explained.probabilities)
    assert bare.timings_ms["gradcam"] == 0 and bare.timings_ms["overlay"] == 0
