"""Candidates in shadow: registration, the worker's shadow screens, promotion and rollback."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from screening import inference, selectors, services
from screening.models import AuditEvent, ModelDeployment, Prediction, ShadowPrediction
from screening.selectors_deployment import deployment_in_force
from screening.services import DeploymentError
from screening.tasks import predict_image
from tests.support.shadow import (
    CANDIDATE,
    IN_FORCE,
    candidate_screener,
    reviewed_pair,
    weights_folder_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def weights(tmp_path, settings, monkeypatch):
    """The tiny model in force (by the setting) and as a candidate, in this run's weights."""
    root = weights_folder_make(root=tmp_path / "weights")
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(root))
    settings.CXR_MODEL_NAME = IN_FORCE
    settings.CXR_PROMOTION_MIN_CASES = 4
    settings.CXR_PROMOTION_SENSITIVITY_MARGIN = 0.02
    return root


@pytest.fixture
def candidate(weights, fake_screener, admin_user):
    """The candidate registered, with a fake screener of its own beside the installed one."""
    screener = candidate_screener(label="covid")
    inference.screener_install(name=CANDIDATE, screener=screener)
    services.model_candidate_set(name=CANDIDATE, actor=admin_user)
    return screener


def test_no_row_means_the_setting_is_in_force(weights):
    state = deployment_in_force()
    assert (state.in_force, state.candidate, state.source) == (IN_FORCE, "", "setting")
    assert selectors.model_name_configured() == IN_FORCE


def test_candidate_registration_is_checked_audited_and_kept_in_history(weights, admin_user):
    with pytest.raises(DeploymentError, match="not found"):
        services.model_candidate_set(name="no-such-model", actor=admin_user)
    with pytest.raises(DeploymentError, match="in force already"):
        services.model_candidate_set(name=IN_FORCE, actor=admin_user)
    services.model_candidate_set(name=CANDIDATE, actor=admin_user, note="trained on site A")
    state = deployment_in_force()
    assert (state.in_force, state.candidate, state.shadowing) == (IN_FORCE, CANDIDATE, True)
    event = AuditEvent.objects.get(action="model.candidate_set")
    assert event.actor == admin_user and event.detail["candidate"] == CANDIDATE
    assert event.detail["version"] == "0.0.1-test"
    assert services.model_candidate_clear(actor=admin_user) is not None
    assert services.model_candidate_clear(actor=admin_user) is None  # nothing left to clear
    assert deployment_in_force().candidate == ""
    assert list(ModelDeployment.objects.values_list("action", flat=True)) == [
        "candidate_clear", "candidate_set",
    ]  # fmt: skip


def test_the_worker_screens_in_shadow_after_the_real_result(submit, candidate, fake_screener):
    prediction = Prediction.objects.get(image__study=submit())
    predict_image.apply(args=[str(prediction.id)])
    prediction.refresh_from_db()
    assert (prediction.status, prediction.model_name, prediction.label) == (
        "done", "fake-model", "pneumonia",
    )  # fmt: skip
    shadow = ShadowPrediction.objects.get(image=prediction.image)
    assert (shadow.model_name, shadow.accepted, shadow.label) == (CANDIDATE, True, "covid")
    assert shadow.probabilities and shadow.thresholds and shadow.timings_ms
    # A second delivery and a direct re-screen add nothing: one row per image and model.
    predict_image.apply(args=[str(prediction.id)])
    assert services.shadow_screen(candidate=CANDIDATE, images=[prediction.image]) == 0
    assert ShadowPrediction.objects.filter(image=prediction.image).count() == 1
    assert len(candidate.calls) == 1 and len(fake_screener.calls) == 1
    # The clinician's screen draws the heatmap; the shadow screen, which nobody sees, does not.
    assert (fake_screener.explained, candidate.explained) == ([True], [False])


def test_a_refusal_in_shadow_is_stored_as_one(submit, weights, fake_screener, admin_user):
    refusing = candidate_screener(accepted=False, reason="lateral view", label=None)
    inference.screener_install(name=CANDIDATE, screener=refusing)
    services.model_candidate_set(name=CANDIDATE, actor=admin_user)
    prediction = Prediction.objects.get(image__study=submit())
    services.prediction_execute(prediction_id=prediction.id)
    shadow = ShadowPrediction.objects.get(image=prediction.image)
    assert (shadow.accepted, shadow.reason, shadow.label, shadow.probabilities) == (
        False, "lateral view", "", None,
    )  # fmt: skip


def test_a_failing_candidate_never_fails_the_prediction(submit, candidate):
    candidate.error = ValueError("candidate exploded")
    prediction = Prediction.objects.get(image__study=submit())
    result = predict_image.apply(args=[str(prediction.id)])
    assert result.successful()
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE
    assert not ShadowPrediction.objects.exists()


def test_without_a_candidate_nothing_runs_in_shadow(submit, weights, fake_screener):
    prediction = Prediction.objects.get(image__study=submit())
    services.prediction_execute(prediction_id=prediction.id, batch_max=8)
    assert not ShadowPrediction.objects.exists()


def _evidence(*, better: bool = True, n: int = 4) -> None:
    """n reviewed cases each of covid and pneumonia; the candidate as good or worse."""
    for _ in range(n):
        reviewed_pair(truth="covid", current="covid", candidate="covid" if better else "normal")
        reviewed_pair(truth="pneumonia", current="normal", candidate="pneumonia")


def test_promotion_is_refused_without_enough_cases_and_audited(candidate, admin_user, settings):
    _evidence(n=1)
    with pytest.raises(DeploymentError, match="2 reviewed case"):
        services.model_promote(actor=admin_user)
    assert deployment_in_force().in_force == IN_FORCE
    event = AuditEvent.objects.get(action="model.promote_refused")
    assert event.detail["cases"] == 2 and event.detail["reasons"]


def test_promotion_is_refused_when_covid_sensitivity_drops(candidate, admin_user):
    _evidence(better=False)
    with pytest.raises(DeploymentError, match=r"covid sensitivity 0\.000 is below"):
        services.model_promote(actor=admin_user)
    assert deployment_in_force().in_force == IN_FORCE


def test_promotion_switches_queued_work_and_rollback_restores(submit, candidate, admin_user):
    _evidence()
    queued = Prediction.objects.get(image__study=submit())
    assert queued.model_name == IN_FORCE  # named at submission: the model then in force
    call_command("model_promote", "--by", admin_user.username, "--note", "better on site A")
    state = deployment_in_force()
    assert (state.in_force, state.candidate, state.previous) == (CANDIDATE, "", IN_FORCE)
    assert selectors.model_name_configured() == CANDIDATE
    services.prediction_execute(prediction_id=queued.id)
    queued.refresh_from_db()
    assert (queued.status, queued.model_name, queued.label) == ("done", CANDIDATE, "covid")
    promote = AuditEvent.objects.get(action="model.promote")
    assert promote.detail["replaced"] == IN_FORCE and promote.detail["cases"] == 8
    assert promote.detail["sensitivities"]["pneumonia"] == {"current": 0.0, "candidate": 1.0}

    call_command("model_rollback", "--by", admin_user.username)
    assert deployment_in_force().in_force == IN_FORCE
    assert AuditEvent.objects.filter(action="model.rollback").count() == 1
    with pytest.raises(CommandError, match="Nothing to roll back"):
        call_command("model_rollback")
    after = Prediction.objects.get(image__study=submit())
    services.prediction_execute(prediction_id=after.id)
    after.refresh_from_db()
    assert after.model_name == "fake-model"  # the installed screener of the model in force


def test_commands_set_and_clear_the_candidate(weights, capsys):
    call_command("model_candidate", "--set", CANDIDATE)
    assert deployment_in_force().candidate == CANDIDATE
    assert AuditEvent.objects.get(action="model.candidate_set").actor is None
    call_command("model_candidate", "--clear")
    assert deployment_in_force().candidate == ""
    with pytest.raises(CommandError, match="not found"):
        call_command("model_candidate", "--set", "nope")
    with pytest.raises(CommandError, match="No active user"):
        call_command("model_candidate", "--set", CANDIDATE, "--by", "ghost")


def test_shadow_rescreen_screens_reviewed_cases_once(weights, fake_screener, admin_user):
    from portal.accounts.models import Site
    from tests.factories import PredictionFactory, ReviewFactory, UserFactory

    screener = candidate_screener(label="normal")
    inference.screener_install(name=CANDIDATE, screener=screener)
    north = Site.objects.create(slug="north", name="North")
    reviewed = ReviewFactory(prediction__model_name=IN_FORCE).prediction
    theirs = ReviewFactory(
        prediction__image__study__owner=UserFactory(role="clinician", site=north)
    ).prediction
    unreviewed = PredictionFactory(done=True)
    call_command("shadow_rescreen", "--candidate", CANDIDATE, "--site", "north")
    assert set(ShadowPrediction.objects.values_list("image_id", flat=True)) == {theirs.image_id}
    call_command("shadow_rescreen", "--candidate", CANDIDATE)
    call_command("shadow_rescreen", "--candidate", CANDIDATE)  # again: nothing new
    shadowed = list(ShadowPrediction.objects.values_list("image_id", flat=True))
    assert sorted(shadowed) == sorted([reviewed.image_id, theirs.image_id])
    assert unreviewed.image_id not in shadowed and len(screener.calls) == 2
    with pytest.raises(CommandError, match="No site"):
        call_command("shadow_rescreen", "--candidate", CANDIDATE, "--site", "nowhere")


def test_the_state_is_remembered_for_a_few_seconds(weights, settings, monkeypatch):
    import screening.selectors_deployment as deployment

    clock = [1000.0]
    monkeypatch.setattr(deployment.time, "monotonic", lambda: clock[0])
    settings.CXR_DEPLOYMENT_CACHE_S = 3.0
    deployment.deployment_cache_clear()
    assert deployment.model_name_in_force() == IN_FORCE
    # Another process promotes (a row written without this process's services).
    ModelDeployment.objects.create(in_force=CANDIDATE, action="promote", previous=IN_FORCE)
    clock[0] += 2.0
    assert deployment.model_name_in_force() == IN_FORCE  # still remembered
    clock[0] += 1.5
    assert deployment.model_name_in_force() == CANDIDATE  # read again after 3 s
    deployment.deployment_cache_clear()


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Record the names Screener.load is asked for (a stand-in pipeline module)."""
    import sys
    from types import SimpleNamespace

    names: list[str] = []

    class Loader:
        @classmethod
        def load(cls, name=None, compiled_dir=None):
            names.append(name)
            return SimpleNamespace(name=name)

    inference.screener_reset()
    monkeypatch.setitem(sys.modules, "mlcore.pipeline", SimpleNamespace(Screener=Loader))
    yield names
    inference.screener_reset()


def test_screeners_are_loaded_once_per_name(loads):
    for name in ("a", "b", "a", "b"):
        assert inference.screener_get(name=name).name == name
    assert loads == ["a", "b"]


def test_a_starting_worker_loads_the_model_in_force_and_the_candidate(weights, loads):
    ModelDeployment.objects.create(in_force=IN_FORCE, candidate=CANDIDATE, action="candidate_set")
    inference.screener_preload()
    assert loads == [IN_FORCE, CANDIDATE]
