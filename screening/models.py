"""Screening domain: studies of chest X-ray images, their predictions, reviews and the audit log.

Public ids are UUIDs (never sequential). A Study's `status` is derived from its images' current
predictions and refreshed by services; a Prediction's status follows its own lifecycle:
queued -> running -> done | failed | rejected.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from mlcore.evidence import evidence_outside_lungs
from screening.storage import rendering_suffix


class Label(models.TextChoices):
    COVID = "covid", "COVID-19"
    PNEUMONIA = "pneumonia", "Pneumonia (other)"
    NORMAL = "normal", "Normal"


class Study(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"

    class Origin(models.TextChoices):
        UPLOAD = "upload", "Upload"
        PACS = "pacs", "PACS (DICOMweb)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Uploads (web form, API) or a PACS over STOW-RS (screening.pacs); set once, at creation.
    origin = models.CharField(
        max_length=8, choices=Origin.choices, default=Origin.UPLOAD, editable=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="studies"
    )
    # The owner's site when the study was made (save fills it): reports and drift are per site.
    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="studies")
    reference = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PROCESSING, db_index=True
    )
    # Derived from the current predictions by study_status_refresh, so the case history can
    # filter and count 100k rows without joining predictions ("|covid|normal|").
    labels = models.CharField(max_length=48, blank=True, default="", editable=False)
    reviewed = models.BooleanField(default=False, editable=False)
    # An API client's Idempotency-Key and the fingerprint of what it sent with it: a retry of a
    # submission whose answer was lost gets this study back instead of storing a second one.
    idempotency_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    idempotency_fingerprint = models.CharField(
        max_length=64, blank=True, default="", editable=False
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)
    # Not stored: study_submit sets it when a resend with the same key returned this study.
    replayed = False

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "studies"
        indexes = [
            models.Index(fields=["owner", "-created"], name="study_owner_created"),
            models.Index(fields=["site", "-created"], name="study_site_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="study_owner_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs) -> None:
        if self.site_id is None:
            self.site_id = self.owner.site_id
        super().save(*args, **kwargs)


def image_upload_to(instance: Image, filename: str) -> str:
    # The stored name never reuses the user's file name (path traversal, odd Unicode).
    extension = {"png": "png", "jpeg": "jpg", "dicom": "dcm"}.get(instance.format, "bin")
    return f"studies/{instance.study_id}/{instance.id}.{extension}"


def thumbnail_upload_to(instance: Image, filename: str) -> str:
    # New thumbnails are JPEG; older ones stay PNG (served by their extension).
    extension = rendering_suffix(name=filename)
    return f"studies/{instance.study_id}/{instance.id}-thumb.{extension}"


def heatmap_upload_to(instance: Prediction, filename: str) -> str:
    # New heatmaps are JPEG; older ones stay PNG (served by their extension).
    stem = f"studies/{instance.image.study_id}/{instance.image_id}-{instance.id}-heatmap"
    return f"{stem}.{rendering_suffix(name=filename)}"


class Image(models.Model):
    class Format(models.TextChoices):
        PNG = "png", "PNG"
        JPEG = "jpeg", "JPEG"
        DICOM = "dicom", "DICOM"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=image_upload_to, max_length=255)
    thumbnail = models.FileField(upload_to=thumbnail_upload_to, max_length=255, blank=True)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=8, choices=Format.choices)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # Only non-identifying attributes survive de-identification (Modality, ViewPosition, ...).
    dicom_attributes = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "position"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.format})"


class Prediction(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected by the input gate"

    FINAL_STATUSES = (Status.DONE, Status.FAILED, Status.REJECTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    # A re-run adds a new current prediction and keeps the old one for the record.
    is_current = models.BooleanField(default=True)
    model_name = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    reason = models.TextField(blank=True, help_text="The gate's reason or the error, for users.")
    # The most likely class (argmax), kept for the record; the decision below is what the
    # screen says, made at the operating point in force.
    label = models.CharField(max_length=16, choices=Label.choices, blank=True, db_index=True)
    decision = models.CharField(max_length=16, choices=Label.choices, blank=True)
    operating_point = models.CharField(max_length=32, blank=True)
    # {"covid_min": ..., "pneumonia_min": ...}: the thresholds the decision was made at.
    thresholds = models.JSONField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True)
    # Share of the Grad-CAM mass inside the lung fields (None: not measured).
    evidence_in_lungs = models.FloatField(null=True, blank=True)
    # The input gate's distance to the model's training films (drift watch; None: not measured).
    gate_distance = models.FloatField(null=True, blank=True)
    heatmap = models.FileField(upload_to=heatmap_upload_to, max_length=255, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    enqueued = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The prediction whose delivery runs this one (itself, or another that took it into its
    # batch): other deliveries leave a running prediction alone while that batch is live.
    claimed_by = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=Q(is_current=True), name="one_current_prediction"
            )
        ]
        indexes = [models.Index(fields=["status", "created"], name="prediction_status_created")]

    def __str__(self) -> str:
        return f"{self.image_id} {self.status} {self.label}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @staticmethod
    def finding_of(*, decision: str, label: str) -> str:
        """Return what a prediction says: its decision, or the argmax label of one made
        before operating points."""
        return decision or label

    @property
    def finding(self) -> str:
        """The label reviewers confirm or correct and the case history lists."""
        return self.finding_of(decision=self.decision, label=self.label)

    def get_finding_display(self) -> str:
        return Label(self.finding).label if self.finding in Label.values else ""

    @property
    def evidence_outside_lungs(self) -> bool:
        """Whether the heatmap lies mostly outside the lung fields (check what it read)."""
        return evidence_outside_lungs(evidence_in_lungs=self.evidence_in_lungs)

    @property
    def accepted(self) -> bool | None:
        """True once the gate let the image through, False when refused, None before."""
        if self.status == self.Status.REJECTED:
            return False
        if self.status == self.Status.DONE:
            return True
        return None


class OperatingPointChoice(models.Model):
    """The operating point a deployment runs a model at, set by an admin (one per model).

    Without a row the setting CXR_OPERATING_POINT names a point of the card.
    """

    model_name = models.CharField(max_length=64, unique=True)
    name = models.CharField(
        max_length=32, help_text="A point the card ships (e.g. screening) or a name of yours."
    )
    covid_min = models.FloatField(help_text="covid when p(covid) reaches this (0 to 1).")
    pneumonia_min = models.FloatField(
        help_text="Else pneumonia when p(covid) + p(pneumonia) reaches this (0 to 1)."
    )
    note = models.TextField(blank=True, help_text="Why this point (kept in the audit log).")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    changed = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "operating point in force"
        verbose_name_plural = "operating points in force"

    def __str__(self) -> str:
        return f"{self.model_name}: {self.name}"

    @property
    def thresholds(self) -> dict[str, float]:
        return {"covid_min": self.covid_min, "pneumonia_min": self.pneumonia_min}


# The one limit on a review's note (web form, API and service).
REVIEW_NOTE_MAX_LENGTH = 5000


class Review(models.Model):
    class Verdict(models.TextChoices):
        AGREE = "agree", "Agree"
        DISAGREE = "disagree", "Disagree"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    label = models.CharField(
        max_length=16, choices=Label.choices, help_text="The label the reviewer holds correct."
    )
    note = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "reviewer"], name="one_review_each")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.verdict} {self.label}"


class AuditEvent(models.Model):
    """Append-only record of who did what to which object, when and from where."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"


# Registered with the app from here; their own module keeps this one short.
from screening.shadow_models import ModelDeployment, ShadowPrediction  # noqa: E402

__all__ = [
    "AuditEvent",
    "Image",
    "Label",
    "ModelDeployment",
    "OperatingPointChoice",
    "Prediction",
    "Review",
    "ShadowPrediction",
    "Study",
]
