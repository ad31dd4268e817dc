"""API errors: always JSON, always a readable "detail", never a 500 for bad input."""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from screening.services import ReviewError, SubmissionError
from screening.services.errors import upload_limit_explain

logger = logging.getLogger(__name__)


def _first_message(errors) -> str:
    """Flatten DRF's nested errors into one sentence naming the field."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    """Turn domain and request errors into JSON responses with a "detail" message."""
    if isinstance(exc, SubmissionError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.filename:
            body["filename"] = exc.filename
        return Response(body, status=exc.http_status)
    if isinstance(exc, ReviewError):
        code = status.HTTP_403_FORBIDDEN if exc.code == "forbidden" else status.HTTP_400_BAD_REQUEST
        return Response({"detail": exc.message, "code": exc.code}, status=code)
    if isinstance(exc, SuspiciousOperation):  # e.g. too many files or fields in one request
        logger.warning("Bad request: %s", exc)
        code, detail = upload_limit_explain(exception=exc)
        return Response({"detail": detail, "code": code}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _first_message(response.data),
            "code": "invalid",
            "errors": response.data,
        }
    elif isinstance(response.data, list):
        response.data = {"detail": _first_message(response.data)}
    return response
