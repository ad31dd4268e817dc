"""Links from portal studies and images to the PACS's own UIDs.

The original Study and SOP Instance UIDs are needed only to address results back to the PACS:
they live here and nowhere else (the stored DICOM is de-identified, with new UIDs), no page,
export, admin or API response shows them, and they go when the study is deleted (CASCADE).
"""

from __future__ import annotations

from django.db import models

from screening.models import Image, Study


class PacsStudyLink(models.Model):
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="pacs_link")
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

    def __str__(self) -> str:
        return f"PACS link of image {self.image_id}"
