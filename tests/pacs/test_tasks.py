"""The results task: retried with doubling back-off, gives up with a recorded reason, swept."""

from __future__ import annotations

import pytest

from screening.models import Prediction, Study
from screening.pacs import signals, tasks
from screening.pacs.models import PacsStudyLink
from screening.services import prediction_execute
from tests.pacs.conftest import chest_dicom
from tests.pacs.test_stow import stow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_pacs_study(pacs_token, enqueued, fake_screener, settings, monkeypatch):
    queued: list[str] = []
    monkeypatch.setattr(signals, "results_enqueue", lambda study_id: queued.append(study_id))
    settings.CXR_PACS_DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # nothing listens there
    assert stow(pacs_token, [chest_dicom(seed=11)]).status_code == 200
    prediction_execute(prediction_id=Prediction.objects.get().id)
    study = Study.objects.get()
    assert study.status == Study.Status.DONE
    return study, queued


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.CXR_PACS_RETRY_DELAY_S, settings.CXR_PACS_RETRY_MAX_DELAY_S = 10, 60
    assert [tasks.retry_delay(retries=n) for n in range(5)] == [10, 20, 40, 60, 60]


def test_finishing_a_pacs_study_queues_its_results_once_configured(finished_pacs_study):
    study, queued = finished_pacs_study
    assert queued == [str(study.pk)]


def test_no_results_are_queued_without_a_pacs_url(pacs_token, enqueued, fake_screener, settings,
                                                  monkeypatch):  # fmt: skip
    queued: list[str] = []
    monkeypatch.setattr(signals, "results_enqueue", lambda study_id: queued.append(study_id))
    settings.CXR_PACS_DICOMWEB_URL = ""
    assert stow(pacs_token, [chest_dicom(seed=12)]).status_code == 200
    prediction_execute(prediction_id=Prediction.objects.get().id)
    assert Study.objects.get().status == Study.Status.DONE and queued == []


def test_the_task_retries_then_gives_up_with_a_reason(finished_pacs_study, settings):
    study, _ = finished_pacs_study
    settings.CXR_PACS_MAX_RETRIES, settings.CXR_PACS_TIMEOUT_S = 2, 1
    result = tasks.pacs_results_send.apply(args=[str(study.pk)])
    assert result.result == "gave up"
    link = PacsStudyLink.objects.get()
    assert link.results_error.startswith("gave up") and "unreachable" in link.results_error
    assert link.results_sent is None


def test_the_sweep_queues_studies_whose_results_were_not_delivered(
    finished_pacs_study, monkeypatch
):
    study, _ = finished_pacs_study
    sent: list[str] = []
    monkeypatch.setattr(tasks.pacs_results_send, "delay", lambda study_id: sent.append(study_id))
    assert tasks.pacs_results_sweep() == 1 and sent == [str(study.pk)]
    from django.utils import timezone

    PacsStudyLink.objects.update(results_sent=timezone.now())
    assert tasks.pacs_results_sweep() == 0
