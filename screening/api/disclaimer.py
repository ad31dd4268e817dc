"""The educational disclaimer on every JSON answer: the one place it is added."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def disclaimer_add(data: Any) -> Any:
    """Return `data` with "disclaimer" added when it is a JSON object without one."""
    if isinstance(data, dict) and "disclaimer" not in data:
        return {**data, "disclaimer": settings.CXR_DISCLAIMER}
    return data


@extend_schema_field(OpenApiTypes.STR)
class DisclaimerField(serializers.Field):
    """A read-only output field holding the disclaimer (a study inside a list carries it too)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, value: Any) -> str:
        return settings.CXR_DISCLAIMER
