"""Serve a stored file to a user who may see it: the one path for web pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpResponse

from screening.services import audit_request_record
from screening.storage import file_response


def file_serve(
    *,
    request: Any,
    obj: Any,
    action: str,
    field_file: FieldFile,
    filename: str,
    content_type: str = "image/png",
    as_attachment: bool = False,
) -> HttpResponse:
    """Raise Http404 when there is no file; else audit `action` on `obj` and answer the file."""
    if not field_file:
        raise Http404("No such file.")
    audit_request_record(request=request, action=action, obj=obj)
    return file_response(
        field_file=field_file,
        filename=filename,
        content_type=content_type,
        as_attachment=as_attachment,
    )
