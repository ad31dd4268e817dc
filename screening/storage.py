"""Serve stored images and heatmaps; only ever called after a permission check.

Media has no public URL: local files stream through Django, S3 objects are handed out as a
short-lived signed URL (the bucket is private).
"""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect

SIGNED_URL_SECONDS = 300

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "dicom": "application/dicom"}


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
    # Patient images must not linger in shared caches.
    response["Cache-Control"] = "private, no-store"
    return response
