"""Typed errors for images a user sent that cannot be screened."""

from __future__ import annotations


class ImageError(ValueError):
    """Base class: an uploaded file that cannot become a radiograph array.

    `code` is stable and machine-readable; `message` is written for the user.
    """

    code = "invalid_image"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAnImageError(ImageError):
    code = "not_an_image"


class CorruptImageError(ImageError):
    code = "corrupt_image"


class UnsupportedDicomError(ImageError):
    code = "unsupported_dicom"


class ImageTooLargeError(ImageError):
    code = "image_too_large"


class ImageTooSmallError(ImageError):
    code = "image_too_small"


class ModelUnavailableError(RuntimeError):
    """The model files are missing or unreadable; the message says which."""
