"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def disclaimer(request: HttpRequest) -> dict[str, str]:
    """Give every template the educational disclaimer."""
    return {"disclaimer": settings.CXR_DISCLAIMER}
