"""Reads for comparing the model in force with a candidate on the same images.

CONTRACT:
    comparison_pairs(*, in_force, candidate, site_ids=None) -> list[CasePair]
        every image whose current prediction the model in force finished (done or refused)
        and that the candidate screened in shadow; truth: the reviewers' majority label
    model_comparison_for(*, user) -> ComparisonReport
        admins: all sites together, then each site; reviewers: their own site only;
        anyone else: no sections
    promotion_evidence(*, in_force, candidate) -> PromotionEvidence
        whether the reviewed cases allow promoting the candidate (settings
        CXR_PROMOTION_MIN_CASES, CXR_PROMOTION_SENSITIVITY_MARGIN)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from mlcore.comparison import (
    Comparison,
    ModelOutput,
    gate_disagreements,
    majority_label,
    models_compare,
)
from portal.accounts.models import Site
from screening.models import Prediction, Review, ShadowPrediction
from screening.permissions import user_may_review
from screening.selectors_deployment import deployment_in_force

# The classes whose sensitivity a promotion must not lose.
PROMOTION_CLASSES = ("covid", "pneumonia")


@dataclass(frozen=True)
class CasePair:
    image_id: uuid.UUID
    site_id: int
    truth: str | None  # None: unreviewed, or the reviewers tied
    tied: bool
    current: ModelOutput
    candidate: ModelOutput


@dataclass(frozen=True)
class ComparisonSection:
    title: str
    site_slug: str  # "" for all sites together
    images: int
    ties: int
    gate: dict[str, int]
    comparison: Comparison | None  # None: no reviewed case yet


@dataclass(frozen=True)
class ComparisonReport:
    in_force: str
    candidate: str
    sections: list[ComparisonSection] = field(default_factory=list)


@dataclass(frozen=True)
class PromotionEvidence:
    allowed: bool
    cases: int
    reasons: list[str]
    sensitivities: dict[str, dict[str, float | None]]


def _truths(*, image_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, tuple[str | None, bool]]:
    """Each reviewed image's majority label (None and tied=True on a tie)."""
    latest: dict[tuple[uuid.UUID, int], str] = {}
    rows = (
        Review.objects.filter(prediction__image_id__in=image_ids)
        .order_by("updated")
        .values_list("prediction__image_id", "reviewer_id", "label")
    )
    for image_id, reviewer_id, label in rows:
        latest[(image_id, reviewer_id)] = label  # a reviewer's newest word on the image
    labels: dict[uuid.UUID, list[str]] = defaultdict(list)
    for (image_id, _), label in latest.items():
        labels[image_id].append(label)
    out = {}
    for image_id, given in labels.items():
        truth = majority_label(labels=given)
        out[image_id] = (truth, truth is None)
    return out


def _names_of(*, model: str) -> set[str]:
    """The registry name and the card's own name: predictions carry the card's."""
    from mlcore.errors import ModelUnavailableError
    from mlcore.registry import model_card_read

    try:
        return {model, model_card_read(name=model).name}
    except ModelUnavailableError:
        return {model}


def comparison_pairs(
    *, in_force: str, candidate: str, site_ids: Collection[int] | None = None
) -> list[CasePair]:
    """Return the images both models screened, each with both outputs and its truth."""
    current = Prediction.objects.filter(
        is_current=True,
        model_name__in=_names_of(model=in_force),
        status__in=(Prediction.Status.DONE, Prediction.Status.REJECTED),
        image__shadow_predictions__model_name=candidate,
    )
    if site_ids is not None:
        current = current.filter(image__study__site_id__in=site_ids)
    rows = list(
        current.values_list(
            "image_id", "image__study__site_id", "status", "decision", "label", "probabilities"
        )
    )
    ids = [row[0] for row in rows]
    shadows = {
        s.image_id: s
        for s in ShadowPrediction.objects.filter(model_name=candidate, image_id__in=ids)
    }
    truths = _truths(image_ids=ids)
    pairs = []
    for image_id, site_id, status, decision, label, probabilities in rows:
        shadow = shadows[image_id]
        done = status == Prediction.Status.DONE
        truth, tied = truths.get(image_id, (None, False))
        pairs.append(
            CasePair(
                image_id=image_id,
                site_id=site_id,
                truth=truth,
                tied=tied,
                current=ModelOutput(
                    finding=(decision or label) if done else "",
                    probabilities=probabilities if done else None,
                ),
                candidate=ModelOutput(
                    finding=shadow.finding if shadow.accepted else "",
                    probabilities=shadow.probabilities if shadow.accepted else None,
                ),
            )
        )
    return pairs


def comparison_section(*, title: str, site_slug: str, pairs: list[CasePair]) -> ComparisonSection:
    """Compare the two models on `pairs`: gates over every image, the rest over reviewed ones."""
    reviewed = [p for p in pairs if p.truth is not None]
    gate = gate_disagreements(
        current_accepted=[bool(p.current.finding) for p in pairs],
        candidate_accepted=[bool(p.candidate.finding) for p in pairs],
    )
    comparison = None
    if reviewed:
        comparison = models_compare(
            truth=[p.truth for p in reviewed],
            current=[p.current for p in reviewed],
            candidate=[p.candidate for p in reviewed],
        )
    return ComparisonSection(
        title=title,
        site_slug=site_slug,
        images=len(pairs),
        ties=sum(p.tied for p in pairs),
        gate=gate,
        comparison=comparison,
    )


def model_comparison_for(*, user: Any) -> ComparisonReport:
    """Compare the model in force with the candidate on what `user` may see."""
    deployment = deployment_in_force(fresh=True)
    report = ComparisonReport(in_force=deployment.in_force, candidate=deployment.candidate)
    if not deployment.shadowing or not user_may_review(user=user):
        return report
    if user.is_superuser:
        pairs = comparison_pairs(in_force=deployment.in_force, candidate=deployment.candidate)
        report.sections.append(comparison_section(title="All sites", site_slug="", pairs=pairs))
        # Each site with something to compare.
        sites = list(Site.objects.filter(id__in={p.site_id for p in pairs}).order_by("name"))
    else:
        sites = list(Site.objects.filter(id=user.site_id))
        pairs = comparison_pairs(
            in_force=deployment.in_force, candidate=deployment.candidate, site_ids=[user.site_id]
        )
    for site in sites:
        mine = [p for p in pairs if p.site_id == site.id]
        report.sections.append(comparison_section(title=site.name, site_slug=site.slug, pairs=mine))
    return report


def promotion_evidence(*, in_force: str, candidate: str) -> PromotionEvidence:
    """Say whether the candidate may replace the model in force, and why not."""
    pairs = comparison_pairs(in_force=in_force, candidate=candidate)
    reviewed = [p for p in pairs if p.truth is not None]
    minimum = max(1, int(settings.CXR_PROMOTION_MIN_CASES))
    margin = float(settings.CXR_PROMOTION_SENSITIVITY_MARGIN)
    reasons = []
    if len(reviewed) < minimum:
        reasons.append(f"{len(reviewed)} reviewed case(s) screened by both; {minimum} needed.")
    sensitivities: dict[str, dict[str, float | None]] = {}
    if reviewed:
        figures = comparison_section(title="", site_slug="", pairs=reviewed).comparison
        for label in PROMOTION_CLASSES:
            now = figures.current.sensitivity[label].value
            then = figures.candidate.sensitivity[label].value
            sensitivities[label] = {"current": now, "candidate": then}
            if now is None:
                reasons.append(f"No reviewed {label} case: its sensitivity cannot be compared.")
            elif then < now - margin:
                reasons.append(
                    f"{label} sensitivity {then:.3f} is below the current model's "
                    f"{now:.3f} minus the margin {margin:.3f}."
                )
    return PromotionEvidence(
        allowed=not reasons, cases=len(reviewed), reasons=reasons, sensitivities=sensitivities
    )
