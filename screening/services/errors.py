"""Errors the screening services raise for input they refuse, and the words for requests
Django refuses while parsing them (web pages and the API show both)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent


class SubmissionError(Exception):
    """A submission that cannot be accepted; nothing was stored."""

    def __init__(
        self, message: str, *, code: str = "invalid", filename: str = "", http_status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.filename = filename
        self.http_status = http_status


class ReviewError(Exception):
    """A review that cannot be recorded; `code` is "forbidden" or "invalid"."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class OperatingPointChoiceError(Exception):
    """An operating point that cannot be put in force (unknown name, thresholds out of range)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DeploymentError(Exception):
    """A change of the models in force that is refused (unknown model, too little evidence)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def upload_limit_explain(*, exception: Exception) -> tuple[str, str]:
    """Return (code, message) for a request Django refused while parsing it."""
    if isinstance(exception, TooManyFilesSent):
        return (
            "too_many_files",
            f"Too many files in one upload: at most {settings.CXR_MAX_FILES_PER_STUDY} "
            "files per study.",
        )
    if isinstance(exception, RequestDataTooBig):
        return "too_large", "The form data is too large (files are limited separately)."
    if isinstance(exception, TooManyFieldsSent):
        return "too_many_fields", "The form has too many fields."
    return "bad_request", "The request could not be understood."
