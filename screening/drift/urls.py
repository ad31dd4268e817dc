"""The drift pages under /drift/ and /metrics."""

from django.urls import path

from screening.drift import metrics, views

app_name = "drift"

urlpatterns = [
    path("drift/", views.drift_index, name="index"),
    path("drift/<slug:slug>/", views.drift_site, name="site"),
    path(
        "drift/alerts/<int:alert_id>/acknowledge/",
        views.drift_alert_acknowledge,
        name="alert_acknowledge",
    ),
    path("metrics", metrics.metrics, name="metrics"),
]
