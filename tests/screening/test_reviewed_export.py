"""`manage.py export_reviewed`: a site's reviewed cases in the siim layout, no patient data."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image as PILImage

from portal.accounts.models import Site
from screening.models import AuditEvent, Review
from screening.services.reviewed_export import review_labels_resolve
from tests.factories import PredictionFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def north():
    return Site.objects.create(slug="north", name="North Hospital")


def _reviewed(*, site, labels: list[str], reference: str = "", finding: str = "pneumonia"):
    owner = UserFactory(role="clinician", site=site)
    prediction = PredictionFactory(
        done=True,
        image__study__owner=owner,
        image__study__reference=reference or f"REF-{owner.username}",
        image__original_name="Doe^Jane 1961-02-03.png",
        decision=finding,
        label=finding,
    )
    for label in labels:
        verdict = Review.Verdict.AGREE if label == finding else Review.Verdict.DISAGREE
        ReviewFactory(
            prediction=prediction,
            reviewer=UserFactory(role="reviewer", site=site),
            verdict=verdict,
            label=label,
        )
    return prediction


def _export(out, **options) -> list[dict]:
    call_command("export_reviewed", str(out), stdout=io.StringIO(), **options)
    with open(out / "metadata.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_labels_resolve_correction_and_disagreement():
    assert review_labels_resolve(labels=["covid"]) == (["covid"], "single")
    assert review_labels_resolve(labels=["normal", "normal"]) == (["normal"], "agree")
    assert review_labels_resolve(labels=["normal", "covid"]) == (["covid", "normal"], "disagree")


def test_export_writes_siim_layout_with_reviewers_labels(tmp_path, north):
    agreed = _reviewed(site=north, labels=["pneumonia"])
    corrected = _reviewed(site=north, labels=["covid"])
    split = _reviewed(site=north, labels=["normal", "covid"])
    _reviewed(site=north, labels=[])  # not reviewed: not exported
    _reviewed(site=Site.objects.create(slug="south", name="South"), labels=["normal"])

    rows = _export(tmp_path / "out", site="north")

    by_image = {}
    for row in rows:
        by_image.setdefault(row["file"], []).append(row)
    assert set(by_image) == {f"images/{p.image_id}.png" for p in (agreed, corrected, split)}
    assert [r["label"] for r in by_image[f"images/{agreed.image_id}.png"]] == ["pneumonia"]
    # A correction wins over the model's label.
    (row,) = by_image[f"images/{corrected.image_id}.png"]
    assert (row["label"], row["model_label"], row["agreement"]) == ("covid", "pneumonia", "single")
    # Reviewers who disagree are both written, and the rows say so.
    both = by_image[f"images/{split.image_id}.png"]
    assert sorted(r["label"] for r in both) == ["covid", "normal"]
    assert {r["agreement"] for r in both} == {"disagree"} and both[0]["reviewers"] == "2"
    assert {r["source"] for r in rows} == {"site-north"}
    assert all(r["split"] in {"train", "val", "test"} for r in rows)
    # One study, one split: its images never straddle train and test.
    assert {r["patient_id"] for r in both} == {f"study_{split.image.study_id}"}
    assert len({r["split"] for r in both}) == 1

    summary = json.loads((tmp_path / "out" / "export.json").read_text())
    assert summary["images"] == 3 and summary["rows"] == 4 and summary["disagreements"] == 1
    assert AuditEvent.objects.filter(action="reviewed.export", object_id=str(north.pk)).exists()


def test_export_holds_no_patient_data(tmp_path, north):
    prediction = _reviewed(site=north, labels=["covid"], reference="SECRET-REF-77")
    out = tmp_path / "out"
    _export(out, site="north")

    text = (out / "metadata.csv").read_text() + (out / "export.json").read_text()
    for secret in ("SECRET-REF-77", "Doe", "1961", prediction.image.study.owner.username):
        assert secret not in text
    png = out / "images" / f"{prediction.image_id}.png"
    with PILImage.open(png) as film:
        assert film.mode == "L" and not film.text  # pixels only, no text chunks
    assert [p.name for p in (out / "images").iterdir()] == [png.name]


def test_export_since_leaves_out_older_reviews(tmp_path, north):
    old = _reviewed(site=north, labels=["covid"])
    Review.objects.filter(prediction=old).update(updated=timezone.now() - timedelta(days=30))
    recent = _reviewed(site=north, labels=["normal"])
    since = (timezone.localdate() - timedelta(days=1)).isoformat()

    rows = _export(tmp_path / "out", site="north", since=since)

    assert [r["file"] for r in rows] == [f"images/{recent.image_id}.png"]


def test_export_is_read_by_training(tmp_path, north):
    for i, label in enumerate(["covid", "pneumonia", "normal"] * 2):
        _reviewed(site=north, labels=[label], reference=f"T-{i}")
    out = tmp_path / "out"
    _export(out, site="north")

    from training.data import label_indices, table_read

    table = table_read(root=out)
    assert len(table.rows) == 6
    assert list(label_indices(labels=table.column("label"))) != []
    assert all((out / r["file"]).is_file() for r in table.rows)


def test_export_refuses_unknown_site_and_full_folder(tmp_path, north):
    with pytest.raises(CommandError, match=r"Unknown site 'nowhere'.*north"):
        _export(tmp_path / "a", site="nowhere")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        _export(full, site="north")
    with pytest.raises(CommandError, match="not a date"):
        _export(tmp_path / "b", site="north", since="yesterday")
