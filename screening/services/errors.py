"""Errors the screening services raise for input they refuse (views and the API show them)."""

from __future__ import annotations


class SubmissionError(Exception):
    """A submission that cannot be accepted; nothing was stored."""

    def __init__(self, message: str, *, code: str = "invalid", filename: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.filename = filename


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
