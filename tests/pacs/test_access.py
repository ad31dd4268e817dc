"""The pacs role sends and sees nothing; PACS studies show their origin but never its UIDs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from screening.models import Study
from screening.pacs.models import PacsInstanceLink, PacsStudyLink
from tests.pacs.conftest import chest_dicom, uids_of
from tests.pacs.test_stow import stow

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_pacs_account_sees_nothing(pacs_account, pacs_token, enqueued):
    assert stow(pacs_token, [chest_dicom()]).status_code == 200
    api = Client(HTTP_AUTHORIZATION=f"Token {pacs_token}")
    for path in (
        "/api/v1/studies/",
        "/api/v1/model/",
        f"/api/v1/studies/{Study.objects.get().pk}/",
    ):
        assert api.get(path).status_code == 403, path
    web = Client()
    web.force_login(pacs_account)
    for name in ("home", "screening:history", "screening:study_create", "screening:model_card"):
        assert web.get(reverse(name)).status_code == 403, name
    assert web.get("/admin/").status_code == 403


def test_origin_is_shown_and_the_pacs_uids_never_are(pacs_token, reviewer, enqueued):
    data = chest_dicom(seed=9)
    uids = [value for key, value in uids_of(data).items() if key != "SOPClassUID"]
    assert stow(pacs_token, [data]).status_code == 200
    study = Study.objects.get()
    token = Token.objects.get_or_create(user=reviewer)[0].key
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    body = api.get(f"/api/v1/studies/{study.pk}/").content.decode()
    listing = api.get("/api/v1/studies/").content.decode()
    assert '"origin":"pacs"' in body.replace(" ", "") and "pacs" in listing
    web = Client()
    web.force_login(reviewer)
    pages = [
        web.get(reverse("screening:history")).content.decode(),
        web.get(reverse("screening:study_detail", args=[study.pk])).content.decode(),
        b"".join(web.get(reverse("screening:history_export")).streaming_content).decode(),
    ]
    assert "origin-pacs" in pages[0] and "PACS (DICOMweb)" in pages[1]
    admin = Client()
    admin.force_login(_superuser())
    pages.append(admin.get(reverse("admin:screening_study_changelist")).content.decode())
    pages.append(
        admin.get(reverse("admin:screening_study_change", args=[study.pk])).content.decode()
    )
    assert "PACS (DICOMweb)" in pages[-2]
    for text in [body, listing, *pages]:
        for uid in uids:
            assert uid not in text


def test_deleting_the_study_deletes_its_links(pacs_token, enqueued):
    assert stow(pacs_token, [chest_dicom()]).status_code == 200
    Study.objects.get().delete()
    assert not PacsStudyLink.objects.exists() and not PacsInstanceLink.objects.exists()


def _superuser():
    from tests.factories import UserFactory

    return UserFactory(username="admin-pacs-test", role="admin")


def test_dimse_stores_count_against_the_accounts_submission_limit(
    pacs_account, pacs_token, enqueued, monkeypatch
):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    from screening.pacs.peers import peer_register
    from screening.pacs.receive import dimse_instance_store, outcome_status
    from screening.pacs.stow import OUT_OF_RESOURCES

    cache.clear()
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "submit": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    peer = peer_register(ae_title="MODALITY1", username=pacs_account.username,
                         host="127.0.0.1", port=104)  # fmt: skip
    # One STOW-RS request and one C-STORE use the account's two submissions a minute.
    assert stow(pacs_token, [chest_dicom(seed=1)]).status_code == 200
    first = dimse_instance_store(peer_id=peer.pk, data=chest_dicom(seed=2))
    assert outcome_status(outcome=first) == 0
    refused = dimse_instance_store(peer_id=peer.pk, data=chest_dicom(seed=3))
    assert outcome_status(outcome=refused) == OUT_OF_RESOURCES == 0xA700
    assert "over its submission rate limit" in refused.reason
    assert PacsInstanceLink.objects.count() == 2
    cache.clear()
