"""STOW-RS ingest: each instance checked and de-identified like an upload, stored per study.

Instances of one StudyInstanceUID become one Study (origin "pacs"); a later instance of the same
study joins it, and an instance already received is acknowledged without a second Image. When
the request names a study (POST /studies/{study}), an instance of another study is refused. The
PACS's own UIDs are kept only in the link records (screening.pacs.models).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from mlcore.errors import ImageError, ImageTooLargeError, UnsupportedDicomError
from screening.atomic_files import files_atomic
from screening.models import Image, Prediction, Study
from screening.pacs.models import PacsInstanceLink, PacsStudyLink
from screening.pacs.multipart import DICOM_TYPE, Part
from screening.storage import image_files_save

# PS3.18 / PS3.4 failure reasons used in FailedSOPSequence.
OUT_OF_RESOURCES = 0xA700  # too large
CANNOT_UNDERSTAND = 0xC000  # not DICOM, corrupt, UIDs missing
SOP_CLASS_NOT_SUPPORTED = 0x0122  # not a (greyscale, single-frame) radiograph image
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
PROCESSING_FAILURE = 0x0110
STUDY_MISMATCH = 0xA901  # not of the study named in the path (POST /studies/{study})
THUMBNAIL_SIZE = 256
MIN_SIDE = 64


@dataclass
class Outcome:
    """What happened to one instance of the request."""

    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    failure: int | None = None
    reason: str = ""
    duplicate: bool = False
    ignored: bool = False  # one of cxrscreen's own result objects: acknowledged, not stored
    checked: dict[str, Any] = field(default_factory=dict, repr=False)


def _uids_read(*, data: bytes, outcome: Outcome) -> Any:
    """Fill the outcome's UIDs from the header; return the dataset or None when unreadable."""
    from pydicom import dcmread

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(BytesIO(data), force=True)
        outcome.sop_class_uid = str(ds.get("SOPClassUID", "") or "")
        outcome.sop_instance_uid = str(ds.get("SOPInstanceUID", "") or "")
        outcome.study_instance_uid = str(ds.get("StudyInstanceUID", "") or "")
        outcome.series_instance_uid = str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:
        return None
    return ds


def uid_is_valid(*, uid: str) -> bool:
    """Say whether `uid` is a DICOM UID: digits and dots, at most 64 characters."""
    return len(uid) <= 64 and set(uid) <= set("0123456789.")


def _uids_valid(*, outcome: Outcome) -> bool:
    uids = (outcome.sop_class_uid, outcome.sop_instance_uid, outcome.study_instance_uid,
            outcome.series_instance_uid)  # fmt: skip
    return all(uid_is_valid(uid=uid) for uid in uids)


def _is_own_result(*, ds: Any) -> bool:
    from mlcore.dicomout import MANUFACTURER

    series = str(ds.get("SeriesDescription", "") or "")
    return str(ds.get("Manufacturer", "")) == MANUFACTURER and series.startswith(MANUFACTURER)


def _fail(outcome: Outcome, code: int, reason: str) -> Outcome:
    outcome.failure, outcome.reason = code, reason[:300]
    return outcome


def _image_error_code(*, exc: ImageError) -> int:
    if isinstance(exc, ImageTooLargeError):
        return OUT_OF_RESOURCES
    if isinstance(exc, UnsupportedDicomError) and "could not be decoded" in exc.message:
        return TRANSFER_SYNTAX_NOT_SUPPORTED
    if isinstance(exc, UnsupportedDicomError):
        return SOP_CLASS_NOT_SUPPORTED
    return CANNOT_UNDERSTAND


def instance_check(*, part: Part, study_uid: str | None = None) -> Outcome:
    """Check one part like an upload (decode, de-identify, thumbnail); return its outcome.

    With `study_uid` (the path's study), an instance of another study fails before decoding.
    """
    from mlcore.deid import dicom_deidentify
    from mlcore.imageio import image_decode, image_thumbnail_jpeg
    from mlcore.imageio.dicom import PIXEL_KEYWORDS

    outcome, data = Outcome(), part.data
    if part.content_type.split(";")[0].strip().lower() != DICOM_TYPE:
        return _fail(outcome, CANNOT_UNDERSTAND, f"part of type {part.content_type!r}")
    ds = _uids_read(data=data, outcome=outcome)
    if ds is None or not (outcome.sop_instance_uid and outcome.study_instance_uid):
        return _fail(outcome, CANNOT_UNDERSTAND, "not a DICOM instance with SOP and study UIDs")
    if not _uids_valid(outcome=outcome):
        return _fail(outcome, CANNOT_UNDERSTAND, "a UID is longer than 64 characters or not a UID")
    if study_uid is not None and outcome.study_instance_uid != study_uid:
        return _fail(outcome, STUDY_MISMATCH, f"does not belong to study {study_uid}")
    if len(data) > settings.CXR_MAX_UPLOAD_BYTES:
        limit = settings.CXR_MAX_UPLOAD_BYTES / (1024 * 1024)
        return _fail(outcome, OUT_OF_RESOURCES, f"too large: the limit is {limit:g} MB")
    if _is_own_result(ds=ds):  # a study re-sent with our results in it: acknowledge them
        outcome.ignored = True
        return outcome
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        return _fail(
            outcome,
            SOP_CLASS_NOT_SUPPORTED,
            f"not a chest radiograph image: {outcome.sop_class_uid} has no pixel data",
        )
    try:
        min_side = getattr(settings, "CXR_MIN_SIDE", MIN_SIDE)
        decoded = image_decode(data=data, max_pixels=settings.CXR_MAX_PIXELS, min_side=min_side)
        deidentified = dicom_deidentify(data=data)  # only this copy is ever stored
        thumbnail = image_thumbnail_jpeg(image=decoded, size=THUMBNAIL_SIZE)
    except ImageError as exc:
        return _fail(outcome, _image_error_code(exc=exc), exc.message)
    outcome.checked = {
        "data": deidentified.data,
        "attributes": dict(deidentified.attributes),
        "width": int(decoded.width),
        "height": int(decoded.height),
        "thumbnail": thumbnail,
    }
    return outcome


# --------------------------------------------------------------------------- storing


def _study_link_lock(*, owner: Any, study_uid: str, peer: Any = None) -> PacsStudyLink:
    """Return the locked link of `study_uid`, creating its Study (origin pacs) the first time.

    A study sent by a DIMSE `peer` remembers it: its results go back there.
    """
    from screening.services import reference_generate

    link = PacsStudyLink.objects.select_for_update().filter(study_instance_uid=study_uid).first()
    if link is not None:
        if peer is not None and link.peer_id != peer.pk:
            link.peer = peer
            link.save(update_fields=["peer"])
        return link
    study = Study.objects.create(
        owner=owner, site_id=owner.site_id, reference=reference_generate(), origin=Study.Origin.PACS
    )
    try:
        with transaction.atomic():
            return PacsStudyLink.objects.create(
                study=study, study_instance_uid=study_uid, peer=peer
            )
    except IntegrityError:  # another request created it meanwhile
        study.delete()
        return PacsStudyLink.objects.select_for_update().get(study_instance_uid=study_uid)


def _image_store(*, link: PacsStudyLink, outcome: Outcome, stored: list[str]) -> Prediction:
    """Create the Image (files named by ids only), its queued prediction and its link."""
    from screening.selectors import model_name_configured, model_version_configured

    checked = outcome.checked
    position = Image.objects.filter(study_id=link.study_id).count()
    modality = str(checked["attributes"].get("Modality", "") or "dicom").lower()[:8]
    image = Image(
        study_id=link.study_id,
        position=position,
        original_name=f"pacs-{modality}-{position + 1}.dcm",
        format=Image.Format.DICOM,
        sha256=hashlib.sha256(checked["data"]).hexdigest(),
        size_bytes=len(checked["data"]),
        width=checked["width"],
        height=checked["height"],
        dicom_attributes=checked["attributes"],
    )
    image_files_save(
        image=image, data=checked["data"], thumbnail=checked["thumbnail"], stored=stored
    )
    image.save()
    PacsInstanceLink.objects.create(
        study_link=link,
        image=image,
        sop_instance_uid=outcome.sop_instance_uid,
        sop_class_uid=outcome.sop_class_uid,
        series_instance_uid=outcome.series_instance_uid,
    )
    return Prediction.objects.create(
        image=image, model_name=model_name_configured(), model_version=model_version_configured()
    )


def _study_store(
    *, owner: Any, study_uid: str, outcomes: Sequence[Outcome], meta: Any, stored, peer: Any
):
    """Store the new instances of one study; mark re-sent ones duplicate. Return predictions."""
    from screening.services import audit_record, study_status_refresh

    link = _study_link_lock(owner=owner, study_uid=study_uid, peer=peer)
    known = set(
        PacsInstanceLink.objects.filter(
            sop_instance_uid__in=[o.sop_instance_uid for o in outcomes]
        ).values_list("sop_instance_uid", flat=True)
    )
    predictions = []
    for outcome in outcomes:
        if outcome.sop_instance_uid in known:
            outcome.duplicate = True
            continue
        known.add(outcome.sop_instance_uid)
        predictions.append(_image_store(link=link, outcome=outcome, stored=stored))
    if predictions:
        study_status_refresh(study=link.study)
        audit_record(
            actor=owner,
            action="study.stow",
            obj=link.study,
            meta=meta,
            detail={"images": len(predictions), "duplicates": len(outcomes) - len(predictions)},
        )
    return predictions


def stow_store(
    *,
    owner: Any,
    parts: Sequence[Part],
    meta: Any = None,
    study_uid: str | None = None,
    peer: Any = None,
) -> list[Outcome]:
    """Check every part (against `study_uid` if given), then store all accepted ones atomically.

    `peer` is the DIMSE AE (PacsPeer) that sent them, None for STOW-RS.
    """
    from screening.services import predictions_enqueue_on_commit

    outcomes = [instance_check(part=part, study_uid=study_uid) for part in parts]
    by_study: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.failure is None and not outcome.ignored:
            by_study.setdefault(outcome.study_instance_uid, []).append(outcome)
    stored: list[str] = []
    with files_atomic(names=stored):
        predictions = []
        for study_uid, accepted in by_study.items():
            predictions += _study_store(
                owner=owner,
                study_uid=study_uid,
                outcomes=accepted,
                meta=meta,
                stored=stored,
                peer=peer,
            )
        predictions_enqueue_on_commit(prediction_ids=[p.id for p in predictions])
    return outcomes


# --------------------------------------------------------------------------- response


def _reference_item(*, outcome: Outcome) -> dict:
    item = {
        "00081150": {"vr": "UI", "Value": [outcome.sop_class_uid]},
        "00081155": {"vr": "UI", "Value": [outcome.sop_instance_uid]},
    }
    if not outcome.sop_class_uid:
        item["00081150"] = {"vr": "UI"}
    if not outcome.sop_instance_uid:
        item["00081155"] = {"vr": "UI"}
    return item


def stow_response(*, outcomes: Sequence[Outcome]) -> tuple[dict, int]:
    """Return the DICOM JSON response and its HTTP status (200, 202 some failed, 409 none)."""
    stored = [o for o in outcomes if o.failure is None]
    failed = [o for o in outcomes if o.failure is not None]
    body: dict[str, Any] = {
        "00081199": {"vr": "SQ", "Value": [_reference_item(outcome=o) for o in stored]}
    }
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                {
                    **_reference_item(outcome=o),
                    "00081197": {"vr": "US", "Value": [o.failure]},
                    "00000902": {"vr": "LO", "Value": [o.reason[:64]]},
                }
                for o in failed
            ],
        }
    status = 200 if not failed else (202 if stored else 409)
    return body, status
