"""Reads for the screening domain; every read is scoped to what the user may see.

CONTRACT:
    study_list_for(*, user, filters: Mapping | None = None) -> QuerySet[Study]
        (clinician: own; reviewer/admin: all), with images/current predictions prefetched
    study_get_for(*, user, study_id, reviews=True) -> Study   raises Http404 when not visible
        (reviews=False: no owner, no reviews prefetched)
    study_images_attach(*, study, images) -> Study       images as if prefetched (no query)
    study_progress_for(*, user, study_id) -> StudyProgress     raises Http404 when not visible
        each image's current prediction status and a fingerprint of what the study's pages
        show, in one query (conditional GET, status polls)
    image_get_for(*, user, image_id) -> Image            raises Http404
    prediction_get_for(*, user, prediction_id) -> Prediction   raises Http404
    review_queue_for(*, user) -> QuerySet[Prediction]    unreviewed done predictions, oldest first
    agreement_by_model_version(user) -> list[dict]
        {model_name, model_version, reviews, agree, rate}
    model_card_summary() -> dict | None
        what a user should know about the configured model (None when it is unavailable),
        with the operating point in force
    model_name_configured() -> str, model_version_configured() -> str
        the model new predictions are made with (screening.selectors_deployment: a
        deployment record, else the setting), its version read once per process
    operating_point_in_force(*, model_name=None) -> PointInForce
        the point decisions are made at: an admin's choice for the model (one indexed
        query), else the setting CXR_OPERATING_POINT naming a point of the card

Prefetching: each study's `images` come in position order, and each image carries
`image.current_predictions` (a list of 0 or 1 Prediction, with `reviews` prefetched); use
`image_current_prediction(image=...)` or `{{ image.current_predictions.0 }}` in templates.
`filters` takes the StudyFilter parameters (screening.filters); invalid values are ignored.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from screening.filters import StudyFilter
from screening.model_card import model_card_summary as card_summary_read
from screening.models import Image, OperatingPointChoice, Prediction, Review, Study
from screening.permissions import study_scope, study_scope_kind, user_may_review
from screening.selectors_deployment import model_name_in_force


def _uuid_or_404(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("Not found.") from None


def _images_prefetch(*, reviews: bool = True) -> Prefetch:
    current = Prediction.objects.filter(is_current=True)
    if reviews:
        current = current.prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer"))
        )
    return Prefetch(
        "images",
        queryset=Image.objects.order_by("position").prefetch_related(
            Prefetch("predictions", queryset=current, to_attr="current_predictions")
        ),
    )


def image_current_prediction(*, image: Image) -> Prediction | None:
    """Return the image's current prediction (from the prefetch when there is one)."""
    if hasattr(image, "current_predictions"):
        return image.current_predictions[0] if image.current_predictions else None
    return image.predictions.filter(is_current=True).first()


def study_images_attach(*, study: Study, images: list[Image]) -> Study:
    """Give `study` its images as if prefetched (each with `current_predictions` set)."""
    # What prefetch_related stores: a queryset whose results are already known. Anything
    # chained on it (order_by, filter) still queries the database as usual.
    queryset = Image.objects.filter(study_id=study.pk).order_by("position")
    queryset._result_cache = sorted(images, key=lambda image: image.position)
    queryset._prefetch_done = True
    if getattr(study, "_prefetched_objects_cache", None) is None:
        study._prefetched_objects_cache = {}
    study._prefetched_objects_cache["images"] = queryset
    return study


def study_list_for(*, user: Any, filters: Mapping | None = None) -> QuerySet[Study]:
    """Return the studies `user` may see, newest first, optionally filtered."""
    queryset = study_scope(user=user, queryset=Study.objects.all())
    if filters:
        queryset = StudyFilter(data=filters, queryset=queryset).qs
    return (
        queryset.select_related("owner").prefetch_related(_images_prefetch()).order_by("-created")
    )


def study_get_for(*, user: Any, study_id: Any, reviews: bool = True) -> Study:
    """Return the study if `user` may see it; raise Http404 otherwise.

    `reviews=False` leaves out the owner and the predictions' reviews (the API shows neither).
    """
    queryset = study_scope(user=user, queryset=Study.objects.all())
    if reviews:
        queryset = queryset.select_related("owner")
    study = (
        queryset.prefetch_related(_images_prefetch(reviews=reviews))
        .filter(id=_uuid_or_404(study_id))
        .first()
    )
    if study is None:
        raise Http404("No such study.")
    return study


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands: (image id, prediction id, status) per image, and a fingerprint."""

    study_id: uuid.UUID
    status: str
    images: tuple[tuple[uuid.UUID, uuid.UUID | None, str], ...]
    fingerprint: str

    @property
    def final(self) -> bool:
        return all(status in Prediction.FINAL_STATUSES for _, _, status in self.images)


def study_progress_queryset(*, study_id: uuid.UUID, viewer: Any) -> QuerySet:
    """Return the rows of `study_progress_for`: one per current prediction `viewer` may see."""
    current = Prediction.objects.filter(image__study_id=study_id, is_current=True)
    return (
        study_scope(user=viewer, queryset=current, owner_path="image__study__owner")
        .annotate(reviews_n=Count("reviews"), reviews_last=Max("reviews__updated"))
        .order_by("image__position", "image_id")
        .values_list(
            "image_id",
            "id",
            "status",
            "attempts",
            "label",
            "heatmap",
            "image__study__status",
            "image__study__updated",
            "reviews_n",  # annotations last: the SQL's own column order
            "reviews_last",
        )
    )


def study_progress_for(*, user: Any, study_id: Any) -> StudyProgress:
    """Return the study's progress if `user` may see it; raise Http404 otherwise (one query)."""
    study_id = _uuid_or_404(study_id)
    kind = study_scope_kind(user=user)
    if kind == "none":
        raise Http404("No such study.")
    rows = list(study_progress_queryset(study_id=study_id, viewer=user))
    if rows:
        status, stamp = rows[0][6], rows
    else:  # a study without predictions (never made by services): still only for its viewers
        study = study_scope(user=user, queryset=Study.objects.filter(id=study_id)).first()
        if study is None:
            raise Http404("No such study.")
        status, stamp = study.status, [(study.status, study.updated)]
    return StudyProgress(
        study_id=study_id,
        status=status,
        images=tuple((row[0], row[1], row[2]) for row in rows),
        fingerprint=hashlib.sha256(repr(stamp).encode()).hexdigest()[:32],
    )


def image_get_for(*, user: Any, image_id: Any) -> Image:
    """Return the image if `user` may see its study; raise Http404 otherwise."""
    queryset = study_scope(user=user, queryset=Image.objects.all(), owner_path="study__owner")
    image = queryset.select_related("study").filter(id=_uuid_or_404(image_id)).first()
    if image is None:
        raise Http404("No such image.")
    return image


def prediction_get_for(*, user: Any, prediction_id: Any) -> Prediction:
    """Return the prediction if `user` may see its study; raise Http404 otherwise."""
    queryset = study_scope(
        user=user, queryset=Prediction.objects.all(), owner_path="image__study__owner"
    )
    prediction = (
        queryset.select_related("image", "image__study")
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))
        .filter(id=_uuid_or_404(prediction_id))
        .first()
    )
    if prediction is None:
        raise Http404("No such prediction.")
    return prediction


def review_queue_for(*, user: Any) -> QuerySet[Prediction]:
    """Return current done predictions of studies `user` may see that nobody has reviewed yet,
    oldest first (reviewers: their site's; admins: all)."""
    if not user_may_review(user=user):
        return Prediction.objects.none()
    waiting = Prediction.objects.filter(is_current=True, status=Prediction.Status.DONE)
    return (
        study_scope(user=user, queryset=waiting, owner_path="image__study__owner")
        .filter(~Exists(Review.objects.filter(prediction=OuterRef("pk"))))
        .select_related("image", "image__study")
        .order_by("created")
    )


def agreement_by_model_version(*, user: Any) -> list[dict]:
    """Return reviewer agreement per model version over the studies `user` may see:
    reviews, agree and rate (0..1)."""
    reviews = study_scope(
        user=user, queryset=Review.objects.all(), owner_path="prediction__image__study__owner"
    )
    rows = (
        reviews.values("prediction__model_name", "prediction__model_version")
        .annotate(reviews=Count("id"), agree=Count("id", filter=Q(verdict=Review.Verdict.AGREE)))
        .order_by("prediction__model_name", "prediction__model_version")
    )
    return [
        {
            "model_name": row["prediction__model_name"],
            "model_version": row["prediction__model_version"],
            "reviews": row["reviews"],
            "agree": row["agree"],
            "rate": row["agree"] / row["reviews"] if row["reviews"] else None,
        }
        for row in rows
    ]


# Versions read from model cards, by (weights folder, model name): read once per process.
_model_versions: dict[tuple[str, str], str] = {}


def model_name_configured() -> str:
    """Return the model in force: the newest deployment record's, else the setting's."""
    return model_name_in_force()


def model_version_configured() -> str:
    """Return the configured model's version from its card, or "" when it cannot be read."""
    from mlcore.errors import ModelUnavailableError
    from mlcore.registry import model_card_read, weights_root

    name = model_name_configured()
    key = (str(weights_root()), name)
    if key not in _model_versions:
        try:
            _model_versions[key] = str(model_card_read(name=name).version)
        except ModelUnavailableError:
            return ""  # not remembered: a model installed later is picked up
    return _model_versions[key]


@dataclass(frozen=True)
class PointInForce:
    """The operating point decisions are made at, and who set it."""

    name: str
    # None: the card's thresholds for `name` (a point chosen by the setting).
    thresholds: dict[str, float] | None
    source: str  # "admin" or "setting"
    changed_by: str = ""
    changed: datetime | None = None
    note: str = ""

    def screen_argument(self) -> Any:
        """Return what Screener.screen_many takes: the point itself, or its card name."""
        if self.thresholds is None:
            return self.name
        from mlcore.operating_point import OperatingPoint

        return OperatingPoint(name=self.name, **self.thresholds)


def operating_point_in_force(*, model_name: str | None = None) -> PointInForce:
    """Return the admin's point for the model (one indexed query), else the setting's."""
    model_name = model_name or model_name_configured()
    choice = (
        OperatingPointChoice.objects.filter(model_name=model_name)
        .select_related("changed_by")
        .first()
    )
    if choice is None:
        return PointInForce(name=settings.CXR_OPERATING_POINT, thresholds=None, source="setting")
    return PointInForce(
        name=choice.name,
        thresholds=choice.thresholds,
        source="admin",
        changed_by=choice.changed_by.get_username() if choice.changed_by else "",
        changed=choice.changed,
        note=choice.note,
    )


def model_card_summary() -> dict | None:
    """Return what a user should know about the model in force and its operating point."""
    model_name = model_name_configured()
    return card_summary_read(
        model_name=model_name, in_force=operating_point_in_force(model_name=model_name)
    )
