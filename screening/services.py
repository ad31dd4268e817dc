"""Writes for the screening domain (HackSoftware styleguide: views, APIs and tasks stay thin).

CONTRACT (web views and the API both call these; keep names and keyword-only signatures):

    class SubmissionError(Exception): .message (user-facing, names the problem and the file),
        .code, .filename; raised before anything is stored (all-or-nothing).
    @dataclass RequestMeta(ip_address: str | None, user_agent: str); request_meta_from(*, request)
    study_submit(*, owner, files: Sequence[UploadedFile], reference: str = "",
                 meta: RequestMeta | None = None) -> Study
        sniff + decode-check each file (mlcore.imageio), de-identify DICOM (mlcore.deid), store,
        thumbnail, create Image + queued Prediction, audit, enqueue on transaction.on_commit.
    review_record(*, prediction, reviewer, verdict: str, label: str | None, note: str = "",
                  meta=None) -> Review            (raises ReviewError)
    prediction_rerun(*, image, actor, meta=None) -> Prediction   (new current, old kept)
    predictions_requeue_stale(*, older_than: timedelta) -> int    (the periodic sweep)
    study_status_refresh(*, study) -> Study
    audit_record(*, actor, action: str, obj, meta=None, detail: dict | None = None) -> AuditEvent

Also here: prediction_execute(*, prediction_id) (the body of the Celery task) and
prediction_fail(*, prediction_id, reason).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from mlcore.errors import ImageError, ModelUnavailableError
from screening.models import AuditEvent, Image, Label, Prediction, Review, Study
from screening.permissions import user_may_review

logger = logging.getLogger(__name__)

REFERENCE_MAX_LENGTH = 64
THUMBNAIL_SIZE = 256
MIN_SIDE_DEFAULT = 64
MAX_ATTEMPTS_DEFAULT = 5
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- errors, meta


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


@dataclass(frozen=True)
class RequestMeta:
    ip_address: str | None = None
    user_agent: str = ""


def request_meta_from(*, request: Any) -> RequestMeta:
    """Return who-called-from-where facts of `request` for the audit log."""
    ip = (request.META.get("REMOTE_ADDR") or "").strip() or None
    agent = text_clean(text=request.META.get("HTTP_USER_AGENT", ""))[:255]
    return RequestMeta(ip_address=ip, user_agent=agent)


def text_clean(*, text: str) -> str:
    """Drop control and format characters (log/terminal injection, bidi tricks) and trim."""
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    return _CONTROL_RE.sub("", text).strip()


def filename_sanitise(*, name: str) -> str:
    """Return the base name of a client file name, safe to show and to store as text."""
    base = PurePosixPath(str(name or "").replace("\\", "/")).name
    base = text_clean(text=base)
    if base in ("", ".", ".."):
        return "upload"
    if len(base) > 200:  # keep the extension, which is what people recognise
        stem, dot, ext = base.rpartition(".")
        base = f"{stem[: 190 - len(ext)]}...{dot}{ext}" if dot and len(ext) <= 10 else base[:200]
    return base


def reference_generate() -> str:
    """Return a pseudonymous study reference: CXR- and 8 random base32 characters."""
    return "CXR-" + base64.b32encode(secrets.token_bytes(5)).decode("ascii")


def model_name_configured() -> str:
    """Return the configured model name, or the registry's default."""
    from mlcore.registry import DEFAULT_MODEL_NAME

    return settings.CXR_MODEL_NAME or DEFAULT_MODEL_NAME


def model_version_configured() -> str:
    """Return the configured model's version from its card, or "" when it cannot be read."""
    from mlcore.registry import model_card_read

    try:
        return str(model_card_read(name=settings.CXR_MODEL_NAME).version)
    except ModelUnavailableError:
        return ""


# --------------------------------------------------------------------------- audit


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any,
    meta: RequestMeta | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Append an audit event: `actor` did `action` to `obj`."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    if obj is None:
        object_type, object_id = "", ""
    elif isinstance(obj, models.Model):
        object_type, object_id = obj._meta.model_name, str(obj.pk)
    else:
        object_type, object_id = type(obj).__name__.lower(), str(obj)
    return AuditEvent.objects.create(
        actor=user,
        actor_username=user.get_username() if user else "",
        action=action,
        object_type=object_type,
        object_id=object_id[:64],
        ip_address=meta.ip_address if meta else None,
        user_agent=(meta.user_agent if meta else "")[:255],
        detail=detail or {},
    )


# --------------------------------------------------------------------------- submission


@dataclass
class _Checked:
    """One validated upload, ready to store."""

    name: str
    data: bytes
    format: str
    width: int
    height: int
    thumbnail: bytes
    dicom_attributes: dict
    identifiers: frozenset[str] = frozenset()


def _upload_read(*, upload: Any, name: str, limit: int) -> bytes:
    """Read at most `limit` bytes of `upload`; raise SubmissionError if empty or larger."""
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _too_big(name=name, size=size, limit=limit)
    if hasattr(upload, "seek"):
        upload.seek(0)
    chunks, total = [], 0
    reader = (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b"")
    )
    for chunk in reader:
        total += len(chunk)
        if total > limit:  # a lying .size must not make us buffer an unlimited body
            raise _too_big(name=name, size=total, limit=limit)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise SubmissionError(f'"{name}": the file is empty.', code="empty", filename=name)
    return data


def _too_big(*, name: str, size: int, limit: int) -> SubmissionError:
    return SubmissionError(
        f'"{name}": the file is larger than the limit of {limit / (1024 * 1024):g} MB.',
        code="too_large",
        filename=name,
    )


def _upload_check(*, upload: Any) -> _Checked:
    """Validate one upload from its content (never its name or content type)."""
    from mlcore.imageio import image_decode, image_sniff, image_thumbnail_png

    name = filename_sanitise(name=getattr(upload, "name", "") or "")
    data = _upload_read(upload=upload, name=name, limit=settings.CXR_MAX_UPLOAD_BYTES)
    fmt = image_sniff(data=data)
    if fmt is None:
        raise SubmissionError(
            f'"{name}": the file is not a PNG, JPEG or DICOM image.',
            code="not_an_image",
            filename=name,
        )
    try:
        decoded = image_decode(
            data=data,
            max_pixels=settings.CXR_MAX_PIXELS,
            min_side=getattr(settings, "CXR_MIN_SIDE", MIN_SIDE_DEFAULT),
        )
        attributes: dict = {}
        identifiers: frozenset[str] = frozenset()
        if decoded.format == "dicom":
            from mlcore.deid import dicom_deidentify

            identifiers = _dicom_identifiers(data=data)
            # Only the de-identified file is ever written anywhere.
            deidentified = dicom_deidentify(data=data)
            data, attributes = deidentified.data, dict(deidentified.attributes)
        thumbnail = image_thumbnail_png(image=decoded, size=THUMBNAIL_SIZE)
    except ImageError as exc:
        raise SubmissionError(f'"{name}": {exc.message}', code=exc.code, filename=name) from exc
    return _Checked(
        name=name,
        data=data,
        format=decoded.format,
        width=int(decoded.width),
        height=int(decoded.height),
        thumbnail=thumbnail,
        dicom_attributes=attributes,
        identifiers=identifiers,
    )


DICOM_IDENTIFIER_KEYWORDS = ("PatientID", "AccessionNumber", "PatientName", "OtherPatientIDs")


def _dicom_identifiers(*, data: bytes) -> frozenset[str]:
    """Return the file's patient identifiers (lower case), to keep them out of the reference."""
    from io import BytesIO

    from pydicom import dcmread

    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        values = [ds.get(keyword) for keyword in DICOM_IDENTIFIER_KEYWORDS]
    except Exception:  # decoding already succeeded; identifiers are a best-effort check
        return frozenset()
    found = set()
    for value in values:
        for item in value if isinstance(value, list | tuple) else [value]:
            text = str(item or "").strip().lower()
            if text:
                found.add(text)
    return frozenset(found)


def reference_clean(*, reference: str) -> str:
    """Return the reference as stored, or raise SubmissionError."""
    cleaned = text_clean(text=reference or "")
    if len(cleaned) > REFERENCE_MAX_LENGTH:
        raise SubmissionError(
            f"The reference is longer than {REFERENCE_MAX_LENGTH} characters.",
            code="invalid_reference",
        )
    return cleaned


def study_submit(
    *,
    owner: Any,
    files: Sequence[Any],
    reference: str = "",
    meta: RequestMeta | None = None,
) -> Study:
    """Check every file, then store them all with a queued prediction each (or store nothing)."""
    files = list(files or [])
    if not files:
        raise SubmissionError("Choose at least one image.", code="no_files")
    limit = settings.CXR_MAX_FILES_PER_STUDY
    if len(files) > limit:
        raise SubmissionError(
            f"Too many files: {len(files)} were sent; the limit is {limit} per study.",
            code="too_many_files",
        )
    reference = reference_clean(reference=reference) or reference_generate()
    checked = [_upload_check(upload=upload) for upload in files]
    for item in checked:
        if reference.lower() in item.identifiers:
            raise SubmissionError(
                f'The reference is a patient identifier from "{item.name}": '
                "use a pseudonymous reference, or leave it empty.",
                code="identifying_reference",
                filename=item.name,
            )

    model_name, model_version = model_name_configured(), model_version_configured()
    stored: list[str] = []
    try:
        with transaction.atomic():
            study = Study.objects.create(owner=owner, reference=reference)
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
                # The storage path comes from upload_to (ids only); the client name is ignored.
                image.file.save("upload", ContentFile(item.data), save=False)
                stored.append(image.file.name)
                image.thumbnail.save("thumb.png", ContentFile(item.thumbnail), save=False)
                stored.append(image.thumbnail.name)
                image.save()
                predictions.append(
                    Prediction.objects.create(
                        image=image, model_name=model_name, model_version=model_version
                    )
                )
            audit_record(
                actor=owner,
                action="study.submit",
                obj=study,
                meta=meta,
                detail={"images": len(checked), "formats": [c.format for c in checked]},
            )
            predictions_enqueue_on_commit(prediction_ids=[p.id for p in predictions])
    except BaseException:
        for name in stored:
            _storage_delete_quietly(name=name)
        raise
    return study


def _storage_delete_quietly(*, name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:  # cleanup must not hide the original error
        logger.exception("Could not delete %s after a failed submission", name)


# --------------------------------------------------------------------------- queueing


def prediction_enqueue(*, prediction_id: Any) -> bool:
    """Send the prediction to the broker; return False (and log) when the broker is down."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    from screening.tasks import predict_image

    try:
        predict_image.delay(str(prediction_id))
    except (KombuOperationalError, ConnectionError, OSError, TimeoutError) as exc:
        # The submission stands; the sweep sends it again once the broker is back.
        logger.warning("Could not enqueue prediction %s: %s", prediction_id, exc)
        return False
    Prediction.objects.filter(id=prediction_id, status=Prediction.Status.QUEUED).update(
        enqueued=timezone.now()
    )
    return True


def predictions_enqueue(*, prediction_ids: Sequence[Any]) -> int:
    """Enqueue each prediction; stop at the first broker failure (each costs a timeout)."""
    sent = 0
    for prediction_id in prediction_ids:
        if not prediction_enqueue(prediction_id=prediction_id):
            break
        sent += 1
    return sent


def prediction_enqueue_on_commit(*, prediction_id: Any) -> None:
    """Enqueue once the current transaction commits (the worker must see the row)."""
    predictions_enqueue_on_commit(prediction_ids=[prediction_id])


def predictions_enqueue_on_commit(*, prediction_ids: Sequence[Any]) -> None:
    """Enqueue the predictions once the current transaction commits."""
    ids = list(prediction_ids)
    transaction.on_commit(lambda: predictions_enqueue(prediction_ids=ids))


def predictions_requeue_stale(*, older_than: timedelta) -> int:
    """Requeue predictions stuck in queued or running for longer than `older_than`.

    A prediction that has already used its attempts fails with a reason instead.
    Return how many were requeued.
    """
    cutoff = timezone.now() - older_than
    max_attempts = getattr(settings, "CXR_PREDICTION_MAX_ATTEMPTS", MAX_ATTEMPTS_DEFAULT)
    stale = models.Q(
        status=Prediction.Status.QUEUED, enqueued__isnull=True, created__lt=cutoff
    ) | models.Q(status=Prediction.Status.QUEUED, enqueued__lt=cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__lt=cutoff)
    stale |= models.Q(status=Prediction.Status.RUNNING, started__isnull=True, created__lt=cutoff)
    requeued: list[Any] = []
    for prediction_id in Prediction.objects.filter(stale).values_list("id", flat=True):
        with transaction.atomic():
            prediction = (
                Prediction.objects.select_for_update().filter(stale, id=prediction_id).first()
            )
            if prediction is None:
                continue  # finished or picked up since we listed it
            if prediction.attempts >= max_attempts:
                _prediction_finish(
                    prediction=prediction,
                    status=Prediction.Status.FAILED,
                    reason=f"Gave up after {prediction.attempts} attempts.",
                )
                continue
            prediction.status = Prediction.Status.QUEUED
            prediction.enqueued = None
            prediction.save(update_fields=["status", "enqueued"])
            requeued.append(prediction.id)
    predictions_enqueue_on_commit(prediction_ids=requeued)
    return len(requeued)


# --------------------------------------------------------------------------- execution


def prediction_fail(*, prediction_id: Any, reason: str) -> Prediction | None:
    """Mark the prediction failed with `reason` unless it is already final."""
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(id=prediction_id).first()
        if prediction is None or prediction.is_final:
            return prediction
        _prediction_finish(prediction=prediction, status=Prediction.Status.FAILED, reason=reason)
    return prediction


def _prediction_finish(*, prediction: Prediction, status: str, reason: str = "") -> None:
    """Write a final state on a locked row and refresh its study."""
    prediction.status = status
    prediction.reason = reason[:2000]
    prediction.finished = timezone.now()
    prediction.save(update_fields=["status", "reason", "finished"])
    study_status_refresh(study=Study.objects.get(images__predictions=prediction))


def _test_delay(*, attempt: int) -> None:
    """Fault-injection hook for the test suite only: portal.settings.test reads
    CXR_TEST_PREDICT_DELAY_S; no other settings module defines it. Only a first attempt waits,
    so a test can kill the worker mid-prediction and watch the redelivery finish."""
    delay = float(getattr(settings, "CXR_TEST_PREDICT_DELAY_S", 0) or 0)
    if delay > 0 and attempt == 1:
        import time

        time.sleep(delay)


def prediction_execute(*, prediction_id: Any) -> Prediction | None:
    """Screen the prediction's image and store the outcome; a final prediction is left alone.

    Transient errors (database, storage) propagate so the task can retry; image and model
    problems end the prediction as failed with a readable reason.
    """
    from screening.inference import screener_get

    max_attempts = getattr(settings, "CXR_PREDICTION_MAX_ATTEMPTS", MAX_ATTEMPTS_DEFAULT)
    with transaction.atomic():
        prediction = (
            Prediction.objects.select_for_update().select_related("image").filter(id=prediction_id)
        ).first()
        if prediction is None or prediction.is_final:
            return prediction
        if prediction.attempts >= max_attempts:
            # E.g. an image that kills the worker each time it is redelivered.
            _prediction_finish(
                prediction=prediction,
                status=Prediction.Status.FAILED,
                reason=f"Gave up after {prediction.attempts} attempts.",
            )
            return prediction
        prediction.status = Prediction.Status.RUNNING
        prediction.started = timezone.now()
        prediction.attempts += 1
        prediction.save(update_fields=["status", "started", "attempts"])

    _test_delay(attempt=prediction.attempts)
    image = prediction.image
    try:
        screener = screener_get()
        with image.file.open("rb") as handle:
            data = handle.read()
        result = screener.screen(data=data, filename=image.original_name)
    except ModelUnavailableError as exc:
        return prediction_fail(
            prediction_id=prediction.id, reason=f"The model is unavailable: {exc}"
        )
    except ImageError as exc:
        return prediction_fail(prediction_id=prediction.id, reason=exc.message)

    heatmap_name = ""
    if result.accepted and result.overlay_png:
        heatmap_name = default_storage.save(
            prediction.heatmap.field.generate_filename(prediction, "heatmap.png"),
            ContentFile(result.overlay_png),
        )
    with transaction.atomic():
        locked = Prediction.objects.select_for_update().get(id=prediction.id)
        if locked.is_final:  # another delivery of the same task finished first
            if heatmap_name:
                _storage_delete_quietly(name=heatmap_name)
            return locked
        locked.model_name = str(result.model_name or locked.model_name)[:64]
        locked.model_version = str(result.model_version or locked.model_version)[:64]
        locked.timings_ms = {k: round(float(v), 2) for k, v in (result.timings_ms or {}).items()}
        if result.accepted:
            locked.label = str(result.label or "")
            locked.probabilities = {k: float(v) for k, v in (result.probabilities or {}).items()}
            locked.heatmap.name = heatmap_name
            locked.save(
                update_fields=[
                    "model_name", "model_version", "timings_ms", "label", "probabilities",
                    "heatmap",
                ]
            )  # fmt: skip
            _prediction_finish(prediction=locked, status=Prediction.Status.DONE)
        else:
            locked.save(update_fields=["model_name", "model_version", "timings_ms"])
            _prediction_finish(
                prediction=locked,
                status=Prediction.Status.REJECTED,
                reason=str(result.reason or "The image was refused by the input gate."),
            )
    return locked


# --------------------------------------------------------------------------- studies


def study_status_refresh(*, study: Study) -> Study:
    """Derive the study's status: done once every image's current prediction is final.

    The study row is locked first: two workers finishing the last two images of one study
    at once would otherwise each still see the other's prediction running (PostgreSQL, read
    committed) and both leave the study "processing".
    """
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        current = Prediction.objects.filter(image__study=locked, is_current=True)
        pending = current.exclude(status__in=Prediction.FINAL_STATUSES)
        status = Study.Status.PROCESSING if pending.exists() else Study.Status.DONE
        found = set(current.exclude(label="").values_list("label", flat=True))
        labels = "".join(f"|{label}" for label in sorted(found)) + "|" if found else ""
        reviewed = Review.objects.filter(prediction__in=current).exists()
        if (locked.status, locked.labels, locked.reviewed) != (status, labels, reviewed):
            locked.status, locked.labels, locked.reviewed = status, labels, reviewed
            locked.save(update_fields=["status", "labels", "reviewed", "updated"])
    study.status, study.labels, study.reviewed = locked.status, locked.labels, locked.reviewed
    study.updated = locked.updated
    return study


# --------------------------------------------------------------------------- reviews, re-runs


def review_record(
    *,
    prediction: Prediction,
    reviewer: Any,
    verdict: str,
    label: str | None,
    note: str = "",
    meta: RequestMeta | None = None,
) -> Review:
    """Record (or update) `reviewer`'s verdict on a finished prediction."""
    if not user_may_review(user=reviewer):
        raise ReviewError("Only reviewers may review predictions.", code="forbidden")
    if prediction.status != Prediction.Status.DONE:
        raise ReviewError("Only finished predictions with a label can be reviewed.")
    if verdict not in Review.Verdict.values:
        choices = ", ".join(Review.Verdict.values)
        raise ReviewError(f"Unknown verdict {verdict!r}: choose one of {choices}.")
    if label in (None, ""):
        if verdict == Review.Verdict.DISAGREE:
            raise ReviewError("Say which label is correct when you disagree.")
        label = prediction.label
    if label not in Label.values:
        raise ReviewError(f"Unknown label {label!r}: choose one of {', '.join(Label.values)}.")
    if verdict == Review.Verdict.AGREE and label != prediction.label:
        raise ReviewError("An agreeing review keeps the predicted label.")
    if verdict == Review.Verdict.DISAGREE and label == prediction.label:
        raise ReviewError("A disagreeing review names a different label.")
    note = text_clean(text=note or "")[:5000]
    with transaction.atomic():
        review, created = Review.objects.update_or_create(
            prediction=prediction,
            reviewer=reviewer,
            defaults={"verdict": verdict, "label": label, "note": note},
        )
        audit_record(
            actor=reviewer,
            action="review.create" if created else "review.update",
            obj=review,
            meta=meta,
            detail={"prediction": str(prediction.id), "verdict": verdict, "label": label},
        )
        study_status_refresh(study=prediction.image.study)
    return review


def prediction_rerun(*, image: Image, actor: Any, meta: RequestMeta | None = None) -> Prediction:
    """Queue a new current prediction with the configured model; the old one stays on record."""
    model_name, model_version = model_name_configured(), model_version_configured()
    with transaction.atomic():
        previous = list(Prediction.objects.select_for_update().filter(image=image, is_current=True))
        Prediction.objects.filter(id__in=[p.id for p in previous]).update(is_current=False)
        prediction = Prediction.objects.create(
            image=image, model_name=model_name, model_version=model_version
        )
        study_status_refresh(study=Study.objects.get(id=image.study_id))
        audit_record(
            actor=actor,
            action="prediction.rerun",
            obj=prediction,
            meta=meta,
            detail={"image": str(image.id), "previous": [str(p.id) for p in previous]},
        )
        prediction_enqueue_on_commit(prediction_id=prediction.id)
    return prediction
