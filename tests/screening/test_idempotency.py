"""POST /api/v1/studies/ with an Idempotency-Key: a retry returns the study it first made."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from screening.models import AuditEvent, Prediction, Study
from screening.services import study_submit
from tests.support.api import api_client_for
from tests.support.images import dicom_data, png_upload, upload

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/studies/"


def _post(client, *, key: str | None, seed: int = 1, reference: str = ""):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    body = {"images": [png_upload(seed=seed)], "reference": reference}
    return client.post(URL, body, format="multipart", **headers)


def test_a_retry_with_the_same_key_returns_the_first_study(clinician, enqueued):
    client = api_client_for(clinician)
    first = _post(client, key="7d0c1f9e-retry", reference="ward-3")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = _post(client, key="7d0c1f9e-retry", reference="ward-3")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["images"][0]["id"] == first.json()["images"][0]["id"]
    assert Study.objects.count() == 1 and Prediction.objects.count() == 1
    assert len(enqueued) == 1
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("study.submit") == 1 and actions.count("study.submit_replayed") == 1
    # Without a key every request is a new study, as before.
    assert _post(client, key=None).status_code == 201
    assert _post(client, key=None).status_code == 201
    assert Study.objects.count() == 3


def test_the_same_key_with_other_content_is_422(clinician, enqueued):
    client = api_client_for(clinician)
    assert _post(client, key="k-1", seed=1).status_code == 201
    other_file = _post(client, key="k-1", seed=2)
    assert other_file.status_code == 422
    assert other_file.json()["code"] == "idempotency_key_reused"
    assert "use a new key" in other_file.json()["detail"]
    other_reference = _post(client, key="k-1", seed=1, reference="another")
    assert other_reference.status_code == 422
    assert Study.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 65, "two words", "tab\tkey", "é-key"])
def test_a_bad_key_is_400_naming_it_and_stores_nothing(clinician, enqueued, key):
    client = api_client_for(clinician)
    response = _post(client, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Study.objects.exists()


def test_keys_belong_to_their_owner(clinician, other_clinician, enqueued):
    mine = _post(api_client_for(clinician), key="shared-key")
    theirs = _post(api_client_for(other_clinician), key="shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_dicom_sent_again_is_a_replay_although_its_stored_copy_differs(clinician, enqueued):
    """De-identification gives each stored copy new UIDs: the key matches the bytes as sent."""
    data = dicom_data(seed=4)
    client = api_client_for(clinician)
    responses = [
        client.post(
            URL,
            {"images": [upload("film.dcm", data, "application/dicom")]},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="dicom-1",
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [201, 200]
    assert Study.objects.count() == 1


def test_after_an_unconfirmed_save_the_retry_with_its_key_finds_the_study(
    clinician, enqueued, commit_fails
):
    client = api_client_for(clinician)
    client.raise_request_exception = False
    commit_fails(landed=True)
    lost = _post(client, key="after-503")
    assert lost.status_code == 503 and lost.json()["code"] == "save_unconfirmed"
    assert "same Idempotency-Key" in lost.json()["detail"]
    retry = _post(client, key="after-503")
    assert retry.status_code == 200 and Study.objects.count() == 1
    commit_fails(landed=False)
    assert _post(client, key="not-landed", seed=3).status_code == 503
    assert _post(client, key="not-landed", seed=3).status_code == 201


def test_two_requests_with_one_key_at_once_store_one_study(clinician, enqueued, monkeypatch):
    """Both look the key up before either stores: PostgreSQL makes the second insert wait for
    the first, which then fails on the unique key, and it answers with the first's study."""
    from screening.services import submission

    if connection.vendor != "postgresql":
        pytest.skip("the unique index wait is PostgreSQL's")
    barrier, studies, errors = threading.Barrier(2), [], []
    looked_up = threading.local()
    real_lookup = submission.study_of_key

    def lookup_missing_first(**kwargs):
        if not getattr(looked_up, "once", False):
            looked_up.once = True
            barrier.wait()  # neither has stored anything yet
            return None
        return real_lookup(**kwargs)

    monkeypatch.setattr(submission, "study_of_key", lookup_missing_first)

    def submit():
        try:
            files = [png_upload(seed=9)]
            studies.append(study_submit(owner=clinician, files=files, idempotency_key="race"))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len({s.id for s in studies}) == 1
    assert sorted(s.replayed for s in studies) == [False, True]
    assert Study.objects.count() == 1


def test_the_upload_forms_resend_with_its_key_opens_the_stored_study(client, clinician, enqueued):
    client.force_login(clinician)

    def send():
        return client.post(
            "/studies/new/",
            {"files": [png_upload(seed=6)], "reference": ""},
            HTTP_ACCEPT="application/json",
            HTTP_IDEMPOTENCY_KEY="form-key-1",
        )

    first, again = send(), send()
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True and again.json()["id"] == first.json()["id"]
    assert Study.objects.count() == 1


def _form_post(client, *, page_key: str, seed: int):
    body = {"files": [png_upload(seed=seed)], "reference": "", "submission_key": page_key}
    return client.post("/studies/new/", body)


def test_the_form_without_javascript_sent_again_opens_the_stored_study(client, clinician, enqueued):
    client.force_login(clinician)
    page = client.get("/studies/new/")
    page_key = page.context["submission_key"]
    assert f'name="submission_key" value="{page_key}"' in page.content.decode()

    first = _form_post(client, page_key=page_key, seed=8)
    again = _form_post(client, page_key=page_key, seed=8)

    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]
    assert Study.objects.count() == 1
    assert AuditEvent.objects.filter(action="study.submit_replayed").count() == 1


def test_the_form_page_reused_for_other_files_makes_a_new_study(client, clinician, enqueued):
    client.force_login(clinician)
    page_key = client.get("/studies/new/").context["submission_key"]

    first = _form_post(client, page_key=page_key, seed=9)
    other = _form_post(client, page_key=page_key, seed=10)

    assert first.status_code == other.status_code == 302
    assert other["Location"] != first["Location"]
    assert Study.objects.count() == 2


def test_the_admin_shows_the_key_a_study_was_sent_with(client, clinician, admin_user, enqueued):
    from django.urls import reverse

    study = study_submit(owner=clinician, files=[png_upload(seed=7)], idempotency_key="key-adm")
    client.force_login(admin_user)
    page = client.get(reverse("admin:screening_study_change", args=[study.pk]))
    assert page.status_code == 200 and "key-adm" in page.content.decode()
