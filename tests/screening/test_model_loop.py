"""The reviewer loop on the real stack: reviewed cases -> candidate -> shadow -> promotion.

A real Celery worker screens with the tiny fixture model; a site's reviewed cases are
exported in the SIIM layout, a candidate is trained on them for one epoch with the tiny
recipe into the worker's weights folder, registered, screens new studies in shadow, is
compared on reviewed cases, promoted (the same worker process switches) and rolled back.
No study is lost or duplicated at any step.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from mlcore.testing.files import png_bytes
from portal.accounts.models import Site
from screening import services
from screening.models import Image, Prediction, ShadowPrediction, Study
from screening.selectors_comparison import model_comparison_for
from tests.factories import UserFactory
from tests.support.cli import module_run
from tests.support.images import upload
from tests.support.shadow import weights_folder_make
from tests.support.worker import until, worker_running
from training.toydata import toy_dataset_write

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CANDIDATE = "loop-cand"
TINY_TRAIN = ("--backbone", "cxrnet", "--image-size", "48", "--width", "0.25", "--batch-size", "8")
TINY_GATE = ("--synthetic", "8", "--no-ood")
EXPORT_COLUMNS = ["file", "label", "source", "patient_id", "split"]
LABELS = ("covid", "pneumonia", "normal")


def _studies_submit(*, owner, count: int, first_seed: int) -> list[Study]:
    """One-film studies whose films carry the toy pattern of a known label (in the reference)."""
    from training.toydata import toy_image

    studies = []
    for k in range(count):
        label = LABELS[k % 3]
        pixels = toy_image(label=label, seed=first_seed + k, size=(160, 160))
        files = [upload(f"{label}-{k}.png", png_bytes(pixels=pixels))]
        studies.append(services.study_submit(owner=owner, files=files, reference=label))
    return studies


def _final(studies: list[Study], *, timeout: float = 240) -> list[Prediction]:
    """Wait until every study's current predictions are final; return them."""
    ids = [s.id for s in studies]

    def finals():
        rows = list(Prediction.objects.filter(image__study_id__in=ids, is_current=True))
        return len(rows) == len(ids) and all(p.is_final for p in rows) and rows

    return until(finals, timeout=timeout, interval=0.3, message="final predictions")


def _review(*, predictions: list[Prediction], reviewer) -> int:
    """Review each done prediction with the label its film carries; return how many."""
    reviewed = 0
    for p in predictions:
        if p.status != Prediction.Status.DONE:
            continue
        truth = p.image.study.reference
        agree = truth == p.finding
        services.review_record(
            prediction=p, reviewer=reviewer, verdict="agree" if agree else "disagree",
            label=None if agree else truth,
        )  # fmt: skip
        reviewed += 1
    return reviewed


def _export(*, site: Site, since: str, out: Path) -> Path:
    """`manage.py export_reviewed --site S --since DATE OUT/`: the SIIM layout."""
    call_command("export_reviewed", "--site", site.slug, "--since", since, str(out))
    return out


def _candidate_train(*, data: list[Path], weights: Path) -> None:
    args = ["train", "--data", *data, "--out", weights / CANDIDATE, "--epochs", 1]
    proc = module_run(module="training", args=[*args, *TINY_TRAIN, *TINY_GATE], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _no_study_lost_or_duplicated() -> None:
    images = Image.objects.count()
    assert Study.objects.exclude(status=Study.Status.DONE).count() == 0
    assert Prediction.objects.filter(is_current=True).count() == images
    assert Prediction.objects.count() == images  # nothing screened twice
    assert all(p.is_final for p in Prediction.objects.all())
    pairs = ShadowPrediction.objects.values_list("image_id", "model_name")
    assert len(set(pairs)) == len(pairs)


def _setup(tmp_path, settings, monkeypatch) -> tuple[Path, Site, object, object, dict]:
    weights = weights_folder_make(root=tmp_path / "weights", names=("tiny",))
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(weights))
    settings.CXR_MODEL_NAME = "tiny"
    env = {"CXR_WEIGHTS_DIR": str(weights), "CXR_MODEL_NAME": "tiny"}
    site = Site.objects.create(slug="east", name="East Infirmary")
    clinician = UserFactory(username="clin-east", role="clinician", site=site)
    reviewer = UserFactory(username="rev-east", role="reviewer", site=site)
    return weights, site, clinician, reviewer, env


def test_reviewed_cases_train_a_candidate_that_shadows_is_promoted_and_rolled_back(
    tmp_path, settings, monkeypatch, admin_user
):
    weights, site, clinician, reviewer, env = _setup(tmp_path, settings, monkeypatch)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    with worker_running(log_path=tmp_path / "worker.log", **env) as worker:
        baseline = _final(_studies_submit(owner=clinician, count=24, first_seed=1))
        reviewed = _review(predictions=baseline, reviewer=reviewer)
        assert reviewed >= 12, [(p.status, p.reason) for p in baseline]
        _no_study_lost_or_duplicated()

        data = _export(site=site, since=since, out=tmp_path / "export")
        with (data / "metadata.csv").open() as handle:
            assert csv.DictReader(handle).fieldnames[:5] == EXPORT_COLUMNS
        # As in use, the export is one more source beside the dev sets (here a toy one, which
        # holds the val films a few dozen exported studies may lack).
        toy = toy_dataset_write(root=tmp_path / "toy", n_per_class=8, seed=1, size=72)
        _candidate_train(data=[toy, data], weights=weights)
        call_command("model_candidate", "--set", CANDIDATE, "--by", admin_user.username)

        shadowed = _final(_studies_submit(owner=clinician, count=6, first_seed=100))
        new_images = [p.image_id for p in shadowed]
        until(
            lambda: ShadowPrediction.objects.filter(image_id__in=new_images).count() == 6,
            timeout=120, message="shadow screens of the new studies",
        )  # fmt: skip
        assert {p.model_name for p in shadowed} == {"tiny"}  # clinicians got the model in force
        _no_study_lost_or_duplicated()

        call_command("shadow_rescreen", "--candidate", CANDIDATE, "--site", site.slug)
        before = ShadowPrediction.objects.count()
        call_command("shadow_rescreen", "--candidate", CANDIDATE, "--site", site.slug)
        assert ShadowPrediction.objects.count() == before  # idempotent
        _compare_then_promote_then_roll_back(
            clinician=clinician, admin=admin_user, reviewed=reviewed, settings=settings
        )
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    assert "Shadow screening" not in (tmp_path / "worker.log").read_text()
    _no_study_lost_or_duplicated()


def _compare_then_promote_then_roll_back(*, clinician, admin, reviewed: int, settings) -> None:
    report = model_comparison_for(user=admin)
    overall = report.sections[0]
    assert (report.in_force, report.candidate) == ("tiny", CANDIDATE)
    assert overall.comparison.cases == reviewed and overall.images >= reviewed + 6
    assert 0.0 <= overall.comparison.mcnemar_p <= 1.0

    settings.CXR_PROMOTION_MIN_CASES = reviewed + 1
    with pytest.raises(CommandError, match="needed"):
        call_command("model_promote")
    # One epoch on a handful of films proves nothing: the margin lets this one through.
    settings.CXR_PROMOTION_MIN_CASES = reviewed
    settings.CXR_PROMOTION_SENSITIVITY_MARGIN = 1.0
    in_flight = _studies_submit(owner=clinician, count=6, first_seed=200)
    call_command("model_promote", "--by", admin.username)
    # Queued before the promotion: each screened once, by whichever model was then in force.
    assert {p.model_name for p in _final(in_flight)} <= {"tiny", CANDIDATE}
    (after,) = _final(_studies_submit(owner=clinician, count=1, first_seed=300))
    assert after.model_name == CANDIDATE  # the running worker switched, no restart
    assert not ShadowPrediction.objects.filter(image_id=after.image_id).exists()
    _no_study_lost_or_duplicated()

    call_command("model_rollback", "--by", admin.username)
    (back,) = _final(_studies_submit(owner=clinician, count=1, first_seed=400))
    assert back.model_name == "tiny"
    _no_study_lost_or_duplicated()
