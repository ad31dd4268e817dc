"""Thumbnails and heatmaps for the pages, served exactly as the API serves them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from screening import selectors
from screening.serving import image_thumbnail_serve, prediction_heatmap_serve


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, image_id) -> HttpResponse:
    """Serve an image's PNG thumbnail to a user who may see it."""
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    return image_thumbnail_serve(request=request, image=image)


@login_required
@require_GET
def prediction_heatmap(request: HttpRequest, prediction_id) -> HttpResponse:
    """Serve a prediction's Grad-CAM heatmap PNG to a user who may see it."""
    prediction = selectors.prediction_get_for(user=request.user, prediction_id=prediction_id)
    return prediction_heatmap_serve(request=request, prediction=prediction)
