"""Remove stored files that no row names: what a process killed mid-write left behind.

A submission writes its files, then commits its rows; a web process killed between the two
leaves files of a study that never existed. A worker killed between storing a heatmap and
recording it leaves a heatmap no prediction names. Files younger than `older_than` are left
alone: they may belong to a write still in progress.

Only a folder something was written to lately can gain an orphan: with `since`, a study's
folder is opened only if no study row names it or it was submitted or screened since then,
so the hourly pass lists one folder per recent study, not one per study ever stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from screening.models import Image, Prediction, Study
from screening.storage import heatmap_values_name, storage_delete_quietly

logger = logging.getLogger(__name__)

STUDIES_FOLDER = "studies"
CHUNK = 500


def media_orphans_sweep(*, older_than: timedelta, since: datetime | None = None) -> int:
    """Delete files under studies/ that no image or prediction names; return how many.

    `since`: open only the folders of studies without a row or active since then (None: all).
    """
    cutoff = timezone.now() - older_than
    deleted = 0
    for folders in _chunks(_study_folders()):
        if since is not None:
            folders = _folders_active(folders=folders, since=since)
        named = _names_in(study_ids=folders)
        for folder in folders:
            for name in _files_in(folder=folder):
                if name in named or default_storage.get_modified_time(name) > cutoff:
                    continue
                storage_delete_quietly(name=name)
                deleted += 1
    if deleted:
        logger.warning("Deleted %d stored file(s) that no row names", deleted)
    return deleted


def _study_folders() -> list[str]:
    try:
        folders, _files = default_storage.listdir(STUDIES_FOLDER)
    except FileNotFoundError:
        return []
    return sorted(folders)


def _folders_active(*, folders: Sequence[str], since: datetime) -> list[str]:
    """Keep the folders no study row names and those of studies submitted or screened since."""
    ids = _uuids(folders)
    studies = Study.objects.filter(id__in=ids)
    existing = {str(i) for i in studies.values_list("id", flat=True)}
    touched = (
        Q(created__gte=since)
        | Q(images__predictions__created__gte=since)
        | Q(images__predictions__started__gte=since)
        | Q(images__predictions__finished__gte=since)
    )
    active = {str(i) for i in studies.filter(touched).values_list("id", flat=True).distinct()}
    idle = existing - active
    return [f for f in folders if _canonical(f) not in idle]


def _canonical(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _files_in(*, folder: str) -> list[str]:
    _dirs, files = default_storage.listdir(f"{STUDIES_FOLDER}/{folder}")
    return [f"{STUDIES_FOLDER}/{folder}/{name}" for name in files]


def _names_in(*, study_ids: Sequence[str]) -> set[str]:
    """Every file name the rows of these studies name (a study that does not exist: none)."""
    existing = Study.objects.filter(id__in=_uuids(study_ids)).values_list("id", flat=True)
    images = Image.objects.filter(study_id__in=list(existing))
    named = set()
    for file, thumbnail in images.values_list("file", "thumbnail"):
        named.update((file, thumbnail))
    heatmaps = Prediction.objects.filter(image__in=images).exclude(heatmap="")
    for heatmap in heatmaps.values_list("heatmap", flat=True):
        # A heatmap's values (the DICOM Parametric Map's source) live beside its overlay.
        named.update((heatmap, heatmap_values_name(heatmap_name=heatmap)))
    return named


def _uuids(values: Sequence[str]) -> list[str]:
    return [u for u in (_canonical(v) for v in values) if u is not None]


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
