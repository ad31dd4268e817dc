"""The screening package's shape: factories that build what the services would, one place a
prediction's status changes, the model's version read once per process, no import cycle."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from screening import selectors
from screening.models import Prediction, Study
from screening.services import prediction_status_set
from tests.factories import PredictionFactory, ReviewFactory
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("trait", "study_status", "labels"),
    [
        ("queued", Study.Status.PROCESSING, ""),
        ("running", Study.Status.PROCESSING, ""),
        ("done", Study.Status.DONE, "|pneumonia|"),
        ("failed", Study.Status.DONE, ""),
        ("rejected", Study.Status.DONE, ""),
    ],
)
def test_prediction_factory_leaves_the_study_as_the_services_would(trait, study_status, labels):
    prediction = PredictionFactory(**({} if trait == "queued" else {trait: True}))
    study = Study.objects.get(images__predictions=prediction)
    assert prediction.status == trait
    assert (study.status, study.labels, study.reviewed) == (study_status, labels, False)
    assert prediction.image.file and prediction.image.thumbnail
    assert bool(prediction.heatmap) is (trait == "done")


def test_review_factory_marks_the_study_reviewed():
    review = ReviewFactory()
    study = Study.objects.get(images__predictions__reviews=review)
    assert review.label == review.prediction.label == "pneumonia"
    assert review.reviewer.is_reviewer and study.reviewed


def test_first_screening_of_a_held_worker_waits_once(tmp_path):
    from tests.support.held_worker import HeldScreener
    from tests.support.screener import FakeScreener

    inner = FakeScreener()
    held = HeldScreener(inner, marker=tmp_path / "held", seconds=0)
    held.screen(data=b"", filename="first")
    assert (tmp_path / "held").exists()
    held.screen(data=b"", filename="second")
    assert inner.calls == ["first", "second"] and held.model_name == inner.model_name


def test_a_png_without_thumbnail_is_its_own_thumbnail_on_both_doors(client, clinician):
    from tests.factories import ImageFactory
    from tests.support.images import png_data

    image = ImageFactory(study__owner=clinician, thumbnail=None)
    client.force_login(clinician)
    for url in (f"/images/{image.pk}/thumbnail/", f"/api/v1/images/{image.pk}/thumbnail/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content) == png_data()
        assert response["Cache-Control"] == "private, no-store"


def test_prediction_status_set_stamps_each_step():
    prediction = PredictionFactory()
    prediction_status_set(prediction=prediction, status=Prediction.Status.RUNNING)
    assert (prediction.attempts, prediction.started is not None) == (1, True)
    prediction_status_set(prediction=prediction, status=Prediction.Status.QUEUED)
    assert prediction.enqueued is None and prediction.attempts == 1
    prediction_status_set(prediction=prediction, status=Prediction.Status.FAILED, reason="x" * 3000)
    prediction.refresh_from_db()
    assert prediction.status == "failed" and prediction.finished and len(prediction.reason) == 2000
    assert prediction.image.study.__class__.objects.get().status == Study.Status.DONE


def test_only_predictions_module_assigns_a_status():
    """`prediction_status_set` is the one place a prediction's status is written."""
    writers = []
    for path in sorted((REPO_ROOT / "screening").rglob("*.py")):
        # Drift alerts have a status lifecycle of their own, written in their own services.
        if "migrations" in path.parts or "drift" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    writers.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    owned = [w for w in writers if w.startswith("screening/services/predictions.py")]
    study = [w for w in writers if w.startswith("screening/services/studies.py")]
    assert owned and len(owned) == 1, writers
    assert set(writers) == set(owned) | set(study), writers


def test_services_never_import_tasks():
    """The tasks call the services; the services send tasks by name (no import cycle)."""
    for path in sorted(Path(REPO_ROOT / "screening" / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
                assert not any(n.startswith("screening.tasks") for n in [node.module, *names]), path


def test_model_version_is_read_once_per_process(monkeypatch, settings):
    from mlcore import registry

    reads = []
    real = registry.model_card_read

    def counting(**kwargs):
        reads.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(registry, "model_card_read", counting)
    monkeypatch.setattr(selectors, "_model_versions", {})
    version = selectors.model_version_configured()
    assert version and selectors.model_version_configured() == version
    assert len(reads) == 1


def test_unreadable_model_version_is_not_remembered(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(selectors, "_model_versions", {})
    settings.CXR_MODEL_NAME = "tiny"
    assert selectors.model_version_configured() == ""
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "models" / "tiny", tmp_path / "tiny")
    assert selectors.model_version_configured() != ""  # installed later, picked up
