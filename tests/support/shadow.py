"""Candidates for tests: a weights folder holding the tiny model under two names, reviewed
cases screened by both models, a candidate's fake screener."""

from __future__ import annotations

from pathlib import Path

from tests.support.screener import FakeResult, FakeScreener
from tests.support.stack import TINY_MODEL_DIR, TINY_MODEL_NAME

IN_FORCE = "tiny"
CANDIDATE = "tiny-cand"


def weights_folder_make(*, root: Path, names: tuple[str, ...] = (IN_FORCE, CANDIDATE)) -> Path:
    """A weights root whose folders `names` each link to the tiny fixture model."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).symlink_to(TINY_MODEL_DIR / TINY_MODEL_NAME, target_is_directory=True)
    return root


def candidate_screener(**result: object) -> FakeScreener:
    """A fake candidate whose results carry its own name."""
    screener = FakeScreener(FakeResult(model_name=CANDIDATE, model_version="0.1", **result))
    screener.model_name = CANDIDATE
    return screener


def reviewed_pair(
    *,
    truth: str,
    current: str,
    candidate: str,
    site=None,
    reviews: tuple[str, ...] | None = None,
):
    """A done prediction of the model in force saying `current` ("" refused), reviewed as
    `truth` (or by several reviewers as `reviews`), and the candidate's shadow saying
    `candidate` ("" refused). Return the prediction."""
    from screening.models import Prediction, ShadowPrediction
    from tests.factories import PredictionFactory, ReviewFactory, UserFactory

    owner = UserFactory(role="clinician", **({"site": site} if site else {}))
    probs = {
        k: (0.8 if k == (current or "normal") else 0.1) for k in ("covid", "pneumonia", "normal")
    }
    if current:
        prediction = PredictionFactory(
            done=True, decision=current, label=current, probabilities=probs,
            model_name=IN_FORCE, image__study__owner=owner,
        )  # fmt: skip
        for label in reviews or (truth,):
            ReviewFactory(prediction=prediction, label=label)
    else:
        prediction = PredictionFactory(
            rejected=True, model_name=IN_FORCE, image__study__owner=owner
        )
    ShadowPrediction.objects.create(
        image=prediction.image,
        model_name=CANDIDATE,
        accepted=bool(candidate),
        label=candidate,
        decision=candidate,
        probabilities=(
            {k: (0.8 if k == candidate else 0.1) for k in ("covid", "pneumonia", "normal")}
            if candidate
            else None
        ),
    )
    assert isinstance(prediction, Prediction)
    return prediction
