"""Which model screens, which candidate runs beside it, and what the candidate said.

Kept apart from screening.models for length; screening.models imports them so Django
registers them in the screening app. No clinician-facing page, API or export reads them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelDeployment(models.Model):
    """One change of the models in force: the newest row is the state, older rows the history.

    Without any row the setting CXR_MODEL_NAME (or mlcore's default) is in force and no
    candidate runs.
    """

    class Action(models.TextChoices):
        CANDIDATE_SET = "candidate_set", "Candidate registered"
        CANDIDATE_CLEAR = "candidate_clear", "Candidate cleared"
        PROMOTE = "promote", "Candidate promoted"
        ROLLBACK = "rollback", "Rolled back"

    in_force = models.CharField(max_length=64, help_text="The model new predictions are made with.")
    candidate = models.CharField(
        max_length=64, blank=True, help_text="Screened in shadow beside the model in force."
    )
    # What a rollback restores (set by a promotion, emptied by the rollback).
    previous = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    note = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    changed = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "model deployment"

    def __str__(self) -> str:
        candidate = f" (candidate {self.candidate})" if self.candidate else ""
        return f"{self.in_force}{candidate}: {self.get_action_display()}"


class ShadowPrediction(models.Model):
    """A candidate model's screen of an image, for comparison only (never shown to clinicians)."""

    image = models.ForeignKey(
        "screening.Image", on_delete=models.CASCADE, related_name="shadow_predictions"
    )
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64, blank=True)
    accepted = models.BooleanField()
    reason = models.TextField(blank=True)
    label = models.CharField(max_length=16, blank=True)
    decision = models.CharField(max_length=16, blank=True)
    operating_point = models.CharField(max_length=32, blank=True)
    thresholds = models.JSONField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_name"], name="one_shadow_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.image_id} {self.model_name} {self.finding or 'refused'}"

    @property
    def finding(self) -> str:
        """What the candidate says: its decision, else its argmax label ("" when refused)."""
        return self.decision or self.label
