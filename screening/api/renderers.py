"""JSON rendering: every JSON object the API returns carries the educational disclaimer."""

from __future__ import annotations

from django.conf import settings
from rest_framework.renderers import JSONRenderer


def disclaimer_add(data):
    """Return `data` with "disclaimer" added when it is a JSON object without one."""
    if isinstance(data, dict) and "disclaimer" not in data:
        return {**data, "disclaimer": settings.CXR_DISCLAIMER}
    return data


class DisclaimerJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        return super().render(disclaimer_add(data), accepted_media_type, renderer_context)
