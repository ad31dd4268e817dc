"""The database goes away during COMMIT: whether the rows landed is unknown, so the files they
name stay, the client is told the save is unconfirmed (not "nothing was lost"), and the media
sweep later removes whatever no row names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.urls import reverse

from screening.atomic_files import CommitInDoubt, files_atomic
from screening.models import Image, Prediction, Study
from screening.services import study_submit
from screening.services.media import media_orphans_sweep
from screening.storage import storage_save
from tests.support.api import api_client_for
from tests.support.images import png_upload
from tests.support.stored import media_files

pytestmark = pytest.mark.django_db(transaction=True)


def _study_files() -> set[str]:
    return {name for name in media_files() if name.startswith("studies/")}


def _named_files() -> set[str]:
    images = Image.objects.values_list("file", "thumbnail")
    return {name for pair in images for name in pair}


def test_a_commit_that_landed_keeps_the_files_its_rows_name(clinician, enqueued, commit_fails):
    commit_fails(landed=True)
    with pytest.raises(CommitInDoubt):
        study_submit(owner=clinician, files=[png_upload(seed=1), png_upload(seed=2)])
    study = Study.objects.get()
    assert study.images.count() == 2
    assert _named_files() <= media_files() and len(_named_files()) == 4
    # The commit hook never ran, so the predictions wait queued for the beat sweep to send.
    assert enqueued == []
    assert set(Prediction.objects.values_list("status", flat=True)) == {"queued"}
    media_orphans_sweep(older_than=timedelta(0))
    assert _named_files() <= media_files()


def test_a_commit_that_did_not_land_leaves_files_the_sweep_removes(
    clinician, enqueued, commit_fails
):
    before = _study_files()
    commit_fails(landed=False)
    with pytest.raises(CommitInDoubt):
        study_submit(owner=clinician, files=[png_upload(seed=1)])
    assert not Study.objects.exists()
    assert len(_study_files() - before) == 2
    media_orphans_sweep(older_than=timedelta(0))
    assert not _study_files() - before


def test_a_failure_before_commit_still_removes_the_files(clinician, enqueued, monkeypatch):
    from screening.services import submission

    def audit_fails(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(submission, "audit_record", audit_fails)
    before = _study_files()
    with pytest.raises(OperationalError) as raised:
        study_submit(owner=clinician, files=[png_upload(seed=1)])
    assert not isinstance(raised.value, CommitInDoubt)
    assert not Study.objects.exists()
    assert _study_files() == before


def test_the_api_says_the_save_is_unconfirmed(clinician, enqueued, commit_fails):
    client = api_client_for(clinician)
    client.raise_request_exception = False
    commit_fails(landed=True)
    response = client.post(
        reverse("api:study-list"), {"images": [png_upload(seed=3)]}, format="multipart"
    )
    assert response.status_code == 503 and response["Retry-After"] == "10"
    body = response.json()
    assert body["code"] == "save_unconfirmed" and "case history" in body["detail"]
    assert Study.objects.filter(owner=clinician).count() == 1


def test_files_atomic_keeps_files_named_only_when_the_block_ran_to_its_end(commit_fails):
    names: list[str] = []
    with pytest.raises(ValueError), files_atomic(names=names):
        names.append(storage_save(name="studies/x/a.bin", data=b"a"))
        raise ValueError("the block failed")
    assert "studies/x/a.bin" not in media_files()

    names = []
    commit_fails(landed=False)
    with pytest.raises(CommitInDoubt), files_atomic(names=names):
        names.append(storage_save(name="studies/x/b.bin", data=b"b"))
        Study.objects.exists()  # a query, so there is a transaction to commit
    assert "studies/x/b.bin" in media_files()


def test_a_result_whose_commit_landed_keeps_its_heatmap(
    submit, fake_screener, commit_fails, monkeypatch
):
    from screening.services import execution, prediction_execute

    prediction = Prediction.objects.get(image__study=submit())
    write = execution._prediction_result_write

    def write_then_lose_the_commit(**kwargs):
        commit_fails(landed=True)
        return write(**kwargs)

    monkeypatch.setattr(execution, "_prediction_result_write", write_then_lose_the_commit)
    with pytest.raises(CommitInDoubt):
        prediction_execute(prediction_id=prediction.id)
    monkeypatch.setattr(execution, "_prediction_result_write", write)
    prediction.refresh_from_db()
    assert prediction.status == "done" and prediction.heatmap.name in media_files()
    # The task's retry finds the prediction final and leaves its heatmap alone.
    prediction_execute(prediction_id=prediction.id)
    assert prediction.heatmap.name in media_files()
