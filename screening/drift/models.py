"""What the drift watch keeps: each site's figures per day and model, and the alerts raised.

The figures are mlcore.drift's (FIGURES names the banded ones); a SiteDay is recomputed from
the day's predictions whenever the task or `manage.py drift_compute` runs, so it may be
rewritten; a DriftAlert lives until its figure is back in band (closed) and is
acknowledged by a reviewer or admin of its site (the banner goes away then).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from mlcore.drift import FIGURES


class SiteDay(models.Model):
    site = models.ForeignKey("accounts.Site", on_delete=models.CASCADE, related_name="drift_days")
    day = models.DateField()
    model_name = models.CharField(max_length=64)
    # Images screened (done or refused), accepted, failed, with a gate distance, with a size,
    # reviewed: the counts each figure is taken over.
    n_images = models.PositiveIntegerField(default=0)
    n_accepted = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    n_distance = models.PositiveIntegerField(default=0)
    n_sized = models.PositiveIntegerField(default=0)
    n_reviewed = models.PositiveIntegerField(default=0)
    refused_share = models.FloatField(null=True, blank=True)
    gate_distance_median = models.FloatField(null=True, blank=True)
    gate_distance_p90 = models.FloatField(null=True, blank=True)
    covid_mean = models.FloatField(null=True, blank=True)
    share_covid = models.FloatField(null=True, blank=True)
    share_pneumonia = models.FloatField(null=True, blank=True)
    share_normal = models.FloatField(null=True, blank=True)
    side_median = models.FloatField(null=True, blank=True)
    agreement = models.FloatField(null=True, blank=True)
    refusal_reasons = models.JSONField(default=dict, blank=True)
    class_mix = models.JSONField(default=dict, blank=True)
    size_mix = models.JSONField(default=dict, blank=True)
    format_mix = models.JSONField(default=dict, blank=True)
    modality_mix = models.JSONField(default=dict, blank=True)
    photometric_mix = models.JSONField(default=dict, blank=True)
    computed = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site", "day", "model_name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "day", "model_name"], name="one_site_day")
        ]
        permissions = [("view_metrics", "May read /metrics (Prometheus)")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day} {self.model_name}"


FIGURE_CHOICES = [(f.name, f.title) for f in FIGURES]


class DriftAlert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CLOSED = "closed", "Closed (back in band)"

    LIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)

    site = models.ForeignKey("accounts.Site", on_delete=models.CASCADE, related_name="drift_alerts")
    model_name = models.CharField(max_length=64)
    figure = models.CharField(max_length=32, choices=FIGURE_CHOICES)
    first_day = models.DateField()
    last_day = models.DateField()
    # The latest day's value out of band and the band it missed.
    value = models.FloatField()
    band_low = models.FloatField()
    band_high = models.FloatField()
    # "reference": the model's drift_reference.json; "settings": CXR_DRIFT_FALLBACK_BANDS.
    band_source = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    notified = models.DateTimeField(null=True, blank=True)
    acknowledged = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    closed_day = models.DateField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_day", "site", "figure"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "model_name", "figure"],
                condition=~Q(status="closed"),
                name="one_live_drift_alert",
            )
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.figure} {self.first_day}..{self.last_day} {self.status}"

    @property
    def figure_title(self) -> str:
        return dict(FIGURE_CHOICES).get(self.figure, self.figure)
