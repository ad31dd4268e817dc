from django.apps import AppConfig


class DriftConfig(AppConfig):
    """The drift watch: per-site daily figures against the model's reference, alerts, /metrics."""

    name = "screening.drift"
    label = "drift"
    verbose_name = "Drift watch"
    default_auto_field = "django.db.models.BigAutoField"
