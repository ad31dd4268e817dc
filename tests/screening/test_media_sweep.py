"""Files a killed process left behind (no row names them) are swept; named ones stay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from screening.models import Image, Prediction, Study
from screening.services.media import media_orphans_sweep
from screening.storage import heatmap_values_name

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path):
    """A media folder of this test's own: other tests leave files their rolled-back rows named."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


def test_files_of_a_study_never_committed_and_an_unnamed_heatmap_go(submit):
    study = submit()
    image = Image.objects.get(study=study)
    ghost = f"studies/{uuid.uuid4()}"
    orphans = [
        default_storage.save(f"{ghost}/{uuid.uuid4()}.png", ContentFile(b"half")),
        default_storage.save(f"{ghost}/{uuid.uuid4()}-thumb.jpg", ContentFile(b"half")),
        default_storage.save(f"studies/{study.id}/{image.id}-x-heatmap.jpg", ContentFile(b"h")),
    ]
    assert media_orphans_sweep(older_than=timedelta(hours=1)) == 0  # too young: maybe a write
    assert media_orphans_sweep(older_than=timedelta(0)) == 3
    assert not any(default_storage.exists(name) for name in orphans)
    assert default_storage.exists(image.file.name) and default_storage.exists(image.thumbnail.name)


def test_a_named_heatmap_and_its_values_stay(submit):
    image = Image.objects.get(study=submit())
    heatmap = default_storage.save(
        f"studies/{image.study_id}/{image.id}-heatmap.jpg", ContentFile(b"h")
    )
    values = default_storage.save(heatmap_values_name(heatmap_name=heatmap), ContentFile(b"v"))
    stray = default_storage.save(f"{heatmap}.other.png", ContentFile(b"o"))
    assert Prediction.objects.filter(image=image).update(heatmap=heatmap) == 1
    assert media_orphans_sweep(older_than=timedelta(0)) == 1
    assert default_storage.exists(heatmap) and default_storage.exists(values)
    assert not default_storage.exists(stray)


def test_management_command(submit):
    image = Image.objects.get(study=submit())
    out = StringIO()
    call_command("media_orphans_sweep", "--older-than", "0", stdout=out)
    assert out.getvalue() == "Deleted 0 file(s).\n" and default_storage.exists(image.file.name)


def _age(study, *, days: int) -> None:
    """Make a study and its predictions look submitted and screened `days` ago."""
    then = timezone.now() - timedelta(days=days)
    Study.objects.filter(id=study.id).update(created=then)
    Prediction.objects.filter(image__study=study).update(created=then, started=then, finished=then)


def test_with_since_only_recent_and_rowless_folders_are_opened(submit):
    old, recent = submit(), submit()
    _age(old, days=3)
    ghost = f"studies/{uuid.uuid4()}"

    def stray(folder: str, name: str) -> str:
        return default_storage.save(f"{folder}/{name}", ContentFile(b"h"))

    strays = {
        "old": stray(f"studies/{old.id}", f"{uuid.uuid4()}-heatmap.jpg"),
        "recent": stray(f"studies/{recent.id}", f"{uuid.uuid4()}.png"),
        "ghost": stray(ghost, f"{uuid.uuid4()}.png"),
    }
    since = timezone.now() - timedelta(days=2)
    assert media_orphans_sweep(older_than=timedelta(0), since=since) == 2
    assert default_storage.exists(strays["old"])  # its folder was not opened
    assert not any(default_storage.exists(strays[k]) for k in ("recent", "ghost"))
    # A study screened again lately counts as active, whenever it was submitted.
    Prediction.objects.filter(image__study=old).update(finished=timezone.now())
    assert media_orphans_sweep(older_than=timedelta(0), since=since) == 1
    assert not default_storage.exists(strays["old"])


def test_beat_task_opens_every_folder_when_the_lookback_is_zero(submit, settings):
    from screening.tasks import media_files_sweep

    old = submit()
    _age(old, days=30)
    stray = default_storage.save(f"studies/{old.id}/{uuid.uuid4()}.png", ContentFile(b"h"))
    settings.CXR_ORPHAN_AFTER_S = 0
    settings.CXR_MEDIA_SWEEP_LOOKBACK_S = 2 * 86400
    assert media_files_sweep() == 0 and default_storage.exists(stray)
    settings.CXR_MEDIA_SWEEP_LOOKBACK_S = 0
    assert media_files_sweep() == 1 and not default_storage.exists(stray)


def test_management_command_active_within(submit):
    old = submit()
    _age(old, days=3)
    stray = default_storage.save(f"studies/{old.id}/{uuid.uuid4()}.png", ContentFile(b"h"))
    out = StringIO()
    call_command("media_orphans_sweep", "--older-than", "0", "--active-within", "3600", stdout=out)
    assert out.getvalue() == "Deleted 0 file(s).\n" and default_storage.exists(stray)
    call_command("media_orphans_sweep", "--older-than", "0", stdout=out)
    assert not default_storage.exists(stray)
