"""The PACS peers (DICOM AEs allowed to send), and links from portal studies and images to the
PACS's own UIDs.

The original Study and SOP Instance UIDs are needed only to address results back to the PACS:
they live here and nowhere else (the stored DICOM is de-identified, with new UIDs), no page,
export, admin or API response shows them, and they go when the study is deleted (CASCADE).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from screening.models import Image, Study
from screening.pacs.networks import networks_validate


class PacsPeer(models.Model):
    """A calling AE title allowed to send over DIMSE, acting as its `pacs` account."""

    class ResultsBy(models.TextChoices):
        DIMSE = "dimse", "C-STORE to this AE (host and port)"
        DICOMWEB = "dicomweb", "STOW-RS to the configured DICOMweb PACS"

    ae_title = models.CharField(max_length=16, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pacs_peers"
    )
    host = models.CharField(max_length=255, help_text="Where results go back by C-STORE.")
    networks = models.CharField(
        max_length=500,
        blank=True,
        default="",
        validators=[networks_validate],
        help_text="Addresses or networks (CIDR, comma-separated) the peer's associations may "
        "come from; blank: the addresses its host resolves to.",
    )
    port = models.PositiveIntegerField()
    results_by = models.CharField(max_length=8, choices=ResultsBy.choices, default="dimse")
    last_association = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "PACS peer (DICOM AE)"
        ordering = ["ae_title"]

    def __str__(self) -> str:
        return f"{self.ae_title} ({self.host}:{self.port})"


class PacsStudyLink(models.Model):
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="pacs_link")
    # The AE that sent the study over DIMSE (results go back to it); empty for STOW-RS.
    peer = models.ForeignKey(
        PacsPeer, null=True, blank=True, on_delete=models.SET_NULL, related_name="study_links"
    )
    study_instance_uid = models.CharField(max_length=64, unique=True)
    # Which set of current predictions was last delivered (see results.results_key).
    results_key = models.CharField(max_length=64, blank=True, default="")
    results_sent = models.DateTimeField(null=True, blank=True)
    results_error = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"PACS link of study {self.study_id}"


class PacsInstanceLink(models.Model):
    study_link = models.ForeignKey(
        PacsStudyLink, on_delete=models.CASCADE, related_name="instances"
    )
    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="pacs_link")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    received = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"PACS link of image {self.image_id}"
