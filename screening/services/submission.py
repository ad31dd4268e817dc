"""Submit a study: check every upload, then store all of them with a queued prediction each."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError

from screening.atomic_files import files_atomic
from screening.models import Image, Prediction, Study
from screening.selectors import (
    model_name_configured,
    model_version_configured,
    study_get_for,
    study_images_attach,
)
from screening.services.audit import RequestMeta, audit_record
from screening.services.errors import SubmissionError
from screening.services.idempotency import (
    idempotency_key_clean,
    study_of_key,
    submission_fingerprint,
)
from screening.services.queueing import predictions_enqueue_on_commit
from screening.services.text import text_clean
from screening.services.uploads import CheckedUpload, upload_check
from screening.storage import image_files_save

REFERENCE_MAX_LENGTH = 64


def study_submit(
    *,
    owner: Any,
    files: Sequence[Any],
    reference: str = "",
    meta: RequestMeta | None = None,
    idempotency_key: str = "",
) -> Study:
    """Check every file, then store them all with a queued prediction each (or store nothing).

    With `idempotency_key`, a repeat of a submission already stored stores nothing and returns
    the first study; `study.replayed` says which happened.
    """
    files = list(files or [])
    if not files:
        raise SubmissionError("Choose at least one image.", code="no_files")
    limit = settings.CXR_MAX_FILES_PER_STUDY
    if len(files) > limit:
        raise SubmissionError(
            f"Too many files: {len(files)} were sent; the limit is {limit} per study.",
            code="too_many_files",
        )
    key = idempotency_key_clean(key=idempotency_key)
    sent_reference = reference_clean(reference=reference)
    checked = [upload_check(upload=upload) for upload in files]
    reference = sent_reference or reference_generate()
    _reference_check_not_identifying(reference=reference, checked=checked)
    fingerprint = submission_fingerprint(checked=checked, reference=sent_reference) if key else ""
    first = study_of_key(owner=owner, key=key, fingerprint=fingerprint)
    if first is None:
        try:
            return _study_store(
                owner=owner, reference=reference, checked=checked, meta=meta,
                idempotency=(key, fingerprint),
            )  # fmt: skip
        except IntegrityError:
            # Another request with the same key committed first (PostgreSQL made this one wait).
            first = study_of_key(owner=owner, key=key, fingerprint=fingerprint)
            if first is None:
                raise
    audit_record(actor=owner, action="study.submit_replayed", obj=first, meta=meta)
    study = study_get_for(user=owner, study_id=first.id, reviews=False)
    study.replayed = True
    return study


def _study_store(
    *,
    owner: Any,
    reference: str,
    checked: Sequence[CheckedUpload],
    meta: RequestMeta | None,
    idempotency: tuple[str, str],
) -> Study:
    """Store the study, its images and queued predictions in one transaction."""
    stored: list[str] = []
    with files_atomic(names=stored):
        study = Study.objects.create(
            owner=owner, site_id=owner.site_id, reference=reference,
            idempotency_key=idempotency[0], idempotency_fingerprint=idempotency[1],
        )  # fmt: skip
        predictions = _images_store(study=study, checked=checked, stored=stored)
        audit_record(
            actor=owner,
            action="study.submit",
            obj=study,
            meta=meta,
            detail={"images": len(checked), "formats": [c.format for c in checked]},
        )
        predictions_enqueue_on_commit(prediction_ids=[p.id for p in predictions])
    # The caller answers from what was just written, without reading the study back.
    study_images_attach(study=study, images=[p.image for p in predictions])
    return study


def _images_store(
    *, study: Study, checked: Sequence[CheckedUpload], stored: list[str]
) -> list[Prediction]:
    """Store each checked upload as an Image with a queued Prediction; note stored file names."""
    model_name, model_version = model_name_configured(), model_version_configured()
    predictions = []
    for position, item in enumerate(checked):
        image = Image(
            study=study,
            position=position,
            original_name=item.name,
            format=item.format,
            sha256=hashlib.sha256(item.data).hexdigest(),
            size_bytes=len(item.data),
            width=item.width,
            height=item.height,
            dicom_attributes=item.dicom_attributes,
        )
        image_files_save(image=image, data=item.data, thumbnail=item.thumbnail, stored=stored)
        image.save()
        prediction = Prediction.objects.create(
            image=image, model_name=model_name, model_version=model_version
        )
        image.current_predictions = [prediction]
        predictions.append(prediction)
    return predictions


def reference_clean(*, reference: str) -> str:
    """Return the reference as stored, or raise SubmissionError."""
    cleaned = text_clean(text=reference or "")
    if len(cleaned) > REFERENCE_MAX_LENGTH:
        raise SubmissionError(
            f"The reference is longer than {REFERENCE_MAX_LENGTH} characters.",
            code="invalid_reference",
        )
    return cleaned


def reference_generate() -> str:
    """Return a pseudonymous study reference: CXR- and 8 random base32 characters."""
    return "CXR-" + base64.b32encode(secrets.token_bytes(5)).decode("ascii")


def _reference_check_not_identifying(*, reference: str, checked: Sequence[CheckedUpload]) -> None:
    """Refuse a reference that repeats a patient identifier found in one of the DICOM files."""
    for item in checked:
        if reference.lower() in item.identifiers:
            raise SubmissionError(
                f'The reference is a patient identifier from "{item.name}": '
                "use a pseudonymous reference, or leave it empty.",
                code="identifying_reference",
                filename=item.name,
            )
