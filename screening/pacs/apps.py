from django.apps import AppConfig


class PacsConfig(AppConfig):
    """Studies in from a PACS over STOW-RS, results back to it as DICOM (SR + Secondary Capture)."""

    name = "screening.pacs"
    label = "pacs"
    verbose_name = "PACS (DICOMweb)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from screening.pacs import signals  # noqa: F401
