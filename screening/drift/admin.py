"""The drift watch in the Django admin: daily figures and alerts, read-only (the services and
the drift page write them)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from screening.drift.models import DriftAlert, SiteDay


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SiteDay)
class SiteDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "site", "model_name", "n_images", "refused_share",
                    "gate_distance_median", "covid_mean", "agreement")  # fmt: skip
    list_filter = ("site", "model_name")
    date_hierarchy = "day"


@admin.register(DriftAlert)
class DriftAlertAdmin(ReadOnlyAdmin):
    list_display = ("site", "figure", "model_name", "first_day", "last_day", "value",
                    "band_low", "band_high", "status", "notified", "acknowledged_by")  # fmt: skip
    list_filter = ("status", "site", "figure")
