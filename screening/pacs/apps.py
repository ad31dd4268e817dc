from django.apps import AppConfig


class PacsConfig(AppConfig):
    """Studies in from a PACS over STOW-RS or C-STORE, results back to it as DICOM (a TID 1500
    report, a Secondary Capture and a Parametric Map)."""

    name = "screening.pacs"
    label = "pacs"
    verbose_name = "PACS (DICOMweb and DIMSE)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from screening.pacs import signals  # noqa: F401
