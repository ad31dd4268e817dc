"""Create the folders the embedded (server-less) stack writes to."""

from pathlib import Path

from django.conf import settings


def var_dirs_ensure() -> None:
    """Make var/, the filesystem broker's folders and local media exist."""
    folders = [settings.VAR_DIR, settings.MEDIA_ROOT, settings.VAR_DIR / "results"]
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    folders += [options[key] for key in ("data_folder_in", "control_folder") if key in options]
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
