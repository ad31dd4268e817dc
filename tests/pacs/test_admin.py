"""The PACS link page in the Django admin: peers, what each study received, results pending,
sent and failed with the error, and the "resend" action (which queues the results again)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from screening.models import Prediction, Study
from screening.pacs import signals
from screening.pacs.models import PacsStudyLink
from screening.pacs.multipart import DICOM_TYPE, Part
from screening.pacs.peers import peer_register
from screening.pacs.stow import stow_store
from screening.services import prediction_execute
from tests.pacs.conftest import chest_dicom, uids_of
from tests.pacs.test_stow import stow

pytestmark = pytest.mark.django_db(transaction=True)
LINKS = "/admin/pacs/pacsstudylink/"


@pytest.fixture
def two_studies(pacs_account, pacs_token, enqueued, fake_screener, monkeypatch, settings):
    """One study in by DICOMweb (results failed), one by DIMSE from AE MODALITY1 (pending)."""
    settings.CXR_PACS_DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"
    queued: list[str] = []
    monkeypatch.setattr(signals, "results_enqueue", lambda study_id: queued.append(study_id))
    peer = peer_register(ae_title="MODALITY1", username=pacs_account.username,
                         host="10.0.0.7", port=104)  # fmt: skip
    web, dimse = chest_dicom(seed=61), chest_dicom(seed=62)
    assert stow(pacs_token, [web]).status_code == 200
    stow_store(owner=pacs_account, parts=[Part(DICOM_TYPE, dimse)], peer=peer)
    for prediction in Prediction.objects.all():
        prediction_execute(prediction_id=prediction.id)
    web_link = PacsStudyLink.objects.get(study_instance_uid=uids_of(web)["StudyInstanceUID"])
    web_link.results_error = "PacsSendError: the PACS is unreachable"
    web_link.save()
    queued.clear()
    return {"web": web, "dimse": dimse, "peer": peer, "queued": queued}


def test_the_link_page_shows_sources_and_results_states(client, admin_user, two_studies):
    client.force_login(admin_user)
    page = client.get(LINKS).content.decode()
    for study in Study.objects.all():
        assert study.reference in page
    assert "DIMSE: AE MODALITY1" in page and "DICOMweb: pacs-orthanc" in page
    assert "the PACS is unreachable" in page
    for data in (two_studies["web"], two_studies["dimse"]):
        for uid in uids_of(data).values():
            if uid.count(".") > 4:  # the PACS's own UIDs never appear (SOP class UIDs may)
                assert uid not in page
    failed = client.get(LINKS, {"results": "failed"}).content.decode()
    assert "the PACS is unreachable" in failed and "DIMSE: AE MODALITY1" not in failed
    pending = client.get(LINKS, {"results": "pending"}).content.decode()
    assert "DIMSE: AE MODALITY1" in pending and "unreachable" not in pending

    peers = client.get("/admin/pacs/pacspeer/").content.decode()
    assert "MODALITY1" in peers and "10.0.0.7" in peers


def test_resend_queues_the_results_again(client, admin_user, two_studies):
    client.force_login(admin_user)
    PacsStudyLink.objects.update(results_key="delivered", results_sent=timezone.now())
    ids = [str(pk) for pk in PacsStudyLink.objects.values_list("pk", flat=True)]
    response = client.post(LINKS, {"action": "resend", "_selected_action": ids})
    assert response.status_code == 302
    assert sorted(two_studies["queued"]) == sorted(str(s.pk) for s in Study.objects.all())
    assert set(PacsStudyLink.objects.values_list("results_key", "results_error")) == {("", "")}


def test_reviewers_and_pacs_accounts_do_not_see_the_page(client, reviewer, pacs_account):
    for user in (reviewer, pacs_account):
        client.force_login(user)
        assert client.get(LINKS).status_code in (302, 403)
