"""Thumbnails and heatmaps for the pages, through the same file path as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from screening import selectors
from screening.models import Image
from screening.serving import file_serve
from screening.storage import CONTENT_TYPES


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, image_id) -> HttpResponse:
    """Serve an image's PNG thumbnail (or a small PNG/JPEG itself) to a user who may see it."""
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    if image.thumbnail:
        field_file, filename, content_type = image.thumbnail, f"{image.pk}-thumb.png", "image/png"
    elif image.format in (Image.Format.PNG, Image.Format.JPEG):
        field_file, filename, content_type = image.file, str(image.pk), CONTENT_TYPES[image.format]
    else:
        raise Http404("No thumbnail yet.")
    return file_serve(
        request=request,
        obj=image,
        action="thumbnail.view",
        field_file=field_file,
        filename=filename,
        content_type=content_type,
    )


@login_required
@require_GET
def prediction_heatmap(request: HttpRequest, prediction_id) -> HttpResponse:
    """Serve a prediction's Grad-CAM heatmap PNG to a user who may see it."""
    prediction = selectors.prediction_get_for(user=request.user, prediction_id=prediction_id)
    return file_serve(
        request=request,
        obj=prediction,
        action="heatmap.view",
        field_file=prediction.heatmap,
        filename=f"{prediction.pk}-heatmap.png",
    )
