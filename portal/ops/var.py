"""Create the folders the embedded (server-less) stack writes to: SQLite, the filesystem broker,
Celery's file result backend and local media. Run once when Django starts (OpsConfig.ready)."""

from pathlib import Path

from django.conf import settings


def var_dirs_ensure() -> None:
    """Make var/, the filesystem broker's folders and local media exist."""
    folders = [settings.VAR_DIR, settings.MEDIA_ROOT, settings.VAR_DIR / "results"]
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folders += [options[key] for key in ("data_folder_in", "control_folder") if key in options]
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
