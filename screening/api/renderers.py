"""JSON rendering: every JSON object the API returns carries the educational disclaimer."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer

from screening.api.disclaimer import disclaimer_add


class DisclaimerJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        return super().render(disclaimer_add(data), accepted_media_type, renderer_context)
