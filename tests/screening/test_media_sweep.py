"""Files a killed process left behind (no row names them) are swept; named ones stay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from screening.models import Image, Prediction
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
