"""Serve and delete stored images and heatmaps; serving only ever follows a permission check.

Media has no public URL: local files stream through Django, S3 objects are handed out as a
short-lived signed URL (the bucket is private). Web pages and the API both serve files through
`file_response`, so both follow one cache policy.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect

logger = logging.getLogger(__name__)

SIGNED_URL_SECONDS = 300
# Patient images must not linger in shared or browser caches.
FILE_CACHE_CONTROL = "private, no-store"

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "dicom": "application/dicom"}


def heatmap_values_name(*, heatmap_name: str) -> str:
    """The stored name of a heatmap's values (mlcore.heatmapfile) beside its JPEG overlay."""
    return f"{heatmap_name}.values.png"


def rendering_suffix(*, name: str) -> str:
    """The suffix of a stored thumbnail or heatmap: "jpg" for new ones, "png" for older ones."""
    return "jpg" if name.endswith(".jpg") else "png"


def rendering_content_type(*, name: str) -> str:
    """The content type of a stored thumbnail or heatmap, by its suffix."""
    return "image/jpeg" if rendering_suffix(name=name) == "jpg" else "image/png"


def storage_is_remote(*, field_file: FieldFile) -> bool:
    """Say whether the file lives in an object store that can sign URLs (S3)."""
    return hasattr(field_file.storage, "bucket_name")


def file_response(
    *, field_file: FieldFile, filename: str, content_type: str, as_attachment: bool = False
) -> HttpResponse:
    """Return the stored file: streamed locally, or a redirect to a signed URL on S3."""
    if not field_file:
        raise Http404("No file.")
    disposition = "attachment" if as_attachment else "inline"
    if storage_is_remote(field_file=field_file):
        ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "") or "file"
        url = field_file.storage.url(
            field_file.name,
            parameters={
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'{disposition}; filename="{ascii_name}"',
            },
            expire=SIGNED_URL_SECONDS,
        )
        response: HttpResponse = HttpResponseRedirect(url)
    else:
        try:
            handle = field_file.storage.open(field_file.name, "rb")
        except FileNotFoundError:
            raise Http404("The file is missing.") from None
        response = FileResponse(
            handle, as_attachment=as_attachment, filename=filename, content_type=content_type
        )
    response["Cache-Control"] = FILE_CACHE_CONTROL
    return response


def storage_delete_quietly(*, name: str, storage: Storage | None = None) -> None:
    """Delete a stored file; log instead of raising (cleanup must not hide another error)."""
    try:
        (storage or default_storage).delete(name)
    except Exception:
        logger.exception("Could not delete stored file %s", name)


def image_files_save(*, image: Any, data: bytes, thumbnail: bytes, stored: list[str]) -> None:
    """Store an unsaved Image's file and thumbnail under names from its ids (upload_to, never
    the client's name); append each name to `stored` as it is written."""
    image.file.name = storage_save(
        name=image.file.field.generate_filename(image, "upload"), data=data
    )
    stored.append(image.file.name)
    image.thumbnail.name = storage_save(
        name=image.thumbnail.field.generate_filename(image, "thumb.jpg"), data=thumbnail
    )
    stored.append(image.thumbnail.name)


def storage_save(*, name: str, data: bytes, storage: Storage | None = None) -> str:
    """Store `data` under `name` (built from ids, so new); return the name stored.

    A write that fails part way (a full disk) leaves no half-written file behind.
    """
    storage = storage or default_storage
    try:
        return storage.save(name, ContentFile(data))
    except BaseException:
        storage_delete_quietly(name=name, storage=storage)
        raise
