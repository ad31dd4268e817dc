"""What a test run has stored: rows and media files, to check a refusal stored nothing."""

from __future__ import annotations

from pathlib import Path


def media_files() -> set[str]:
    """Every file under this run's MEDIA_ROOT, as paths relative to it."""
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def stored_counts() -> tuple[int, int, int]:
    from screening.models import Image, Prediction, Study

    return Study.objects.count(), Image.objects.count(), Prediction.objects.count()


class NothingStored:
    """Assert that a block leaves no Study/Image/Prediction rows and no new media files."""

    def __enter__(self):
        self.counts, self.files = stored_counts(), media_files()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            assert stored_counts() == self.counts, "rows were stored for a refused submission"
            assert media_files() == self.files, "files were stored for a refused submission"
        return False
