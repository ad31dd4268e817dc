"""Serve stored files to a user who may see them: the one path for web pages and the API.

Callers look the object up through a selector first (404 for what the user may not see).
"""

from __future__ import annotations

from typing import Any

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpResponse

from screening.models import Image, Prediction
from screening.services import audit_request_record
from screening.storage import (
    CONTENT_TYPES,
    file_response,
    rendering_content_type,
    rendering_suffix,
)


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


def image_file_serve(*, request: Any, image: Image, download: bool = False) -> HttpResponse:
    """Serve the stored (de-identified) image, inline or as an attachment."""
    return file_serve(
        request=request,
        obj=image,
        action="image.download" if download else "image.view",
        field_file=image.file,
        filename=image.original_name,
        content_type=CONTENT_TYPES.get(image.format, "application/octet-stream"),
        as_attachment=download,
    )


def image_thumbnail_serve(*, request: Any, image: Image) -> HttpResponse:
    """Serve the thumbnail (JPEG; PNG when older); a PNG or JPEG without one is its own."""
    field_file = image.thumbnail
    name = field_file.name if field_file else ""
    content_type = rendering_content_type(name=name)
    if not field_file and image.format in (Image.Format.PNG, Image.Format.JPEG):
        field_file, content_type = image.file, CONTENT_TYPES[image.format]
    return file_serve(
        request=request,
        obj=image,
        action="thumbnail.view",
        field_file=field_file,
        filename=f"{image.pk}-thumbnail.{rendering_suffix(name=name)}",
        content_type=content_type,
    )


def prediction_heatmap_serve(*, request: Any, prediction: Prediction) -> HttpResponse:
    """Serve the prediction's Grad-CAM overlay (JPEG; PNG when older); 404 before it is done."""
    name = prediction.heatmap.name or ""
    return file_serve(
        request=request,
        obj=prediction,
        action="heatmap.view",
        field_file=prediction.heatmap,
        filename=f"{prediction.pk}-heatmap.{rendering_suffix(name=name)}",
        content_type=rendering_content_type(name=name),
    )
