"""Remove stored files when their rows are deleted (a deleted study leaves no image behind).

Connected by importing this module from ScreeningConfig.ready().
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from screening.models import Image, Prediction
from screening.storage import heatmap_values_name, storage_delete_quietly


def _files_delete_on_commit(*, field_files, also: tuple[str, ...] = ()) -> None:
    """Delete the files (and the names in `also`, in the first file's storage) once the
    deletion commits (a rollback must keep them)."""
    targets = [(f.storage, f.name) for f in field_files if f and f.name]
    targets += [(field_files[0].storage, name) for name in also]

    def delete() -> None:
        for storage, name in targets:
            storage_delete_quietly(name=name, storage=storage)

    if targets:
        transaction.on_commit(delete)


@receiver(post_delete, sender=Image, dispatch_uid="screening.image_files_delete")
def image_files_delete(sender, instance: Image, **kwargs) -> None:
    _files_delete_on_commit(field_files=[instance.file, instance.thumbnail])


@receiver(post_delete, sender=Prediction, dispatch_uid="screening.prediction_files_delete")
def prediction_files_delete(sender, instance: Prediction, **kwargs) -> None:
    also = ()
    if instance.heatmap and instance.heatmap.name:
        also = (heatmap_values_name(heatmap_name=instance.heatmap.name),)
    _files_delete_on_commit(field_files=[instance.heatmap], also=also)
