"""Writes for the screening domain (HackSoft styleguide: views, APIs and tasks stay thin).

One module a job; the main functions are re-exported here, so `from screening.services import
study_submit` works:

    submission   study_submit (checks in uploads, text clean-up in text)
    predictions  prediction_status_set (the one place a status changes), prediction_fail,
                 prediction_rerun, predictions_requeue_stale
    execution    prediction_execute (claims a batch, screens it in one pass, ends each alone)
    queueing     prediction_enqueue and friends (after commit; a broker outage is logged)
    reviews      review_record
    operating    operating_point_choose, operating_point_reset (the point in force, audited)
    deployment   model_candidate_set, model_candidate_clear, model_promote, model_rollback
                 (the models in force, audited)
    shadow       shadow_screen, shadow_rescreen (a candidate's screens, never shown to clinicians)
    studies      study_status_refresh
    audit        audit_record, audit_request_record, request_meta_from, RequestMeta
    errors       SubmissionError, ReviewError, OperatingPointChoiceError, DeploymentError
"""

from screening.services.audit import (
    RequestMeta,
    audit_record,
    audit_request_record,
    request_meta_from,
)
from screening.services.deployment import (
    model_candidate_clear,
    model_candidate_set,
    model_promote,
    model_rollback,
)
from screening.services.errors import (
    DeploymentError,
    OperatingPointChoiceError,
    ReviewError,
    SubmissionError,
)
from screening.services.execution import prediction_execute
from screening.services.operating import (
    operating_point_choose,
    operating_point_reset,
    operating_point_thresholds_resolve,
)
from screening.services.predictions import (
    prediction_fail,
    prediction_rerun,
    prediction_status_set,
    predictions_requeue_stale,
)
from screening.services.queueing import (
    prediction_enqueue,
    prediction_enqueue_on_commit,
    predictions_enqueue,
    predictions_enqueue_on_commit,
)
from screening.services.reviews import review_record
from screening.services.shadow import shadow_rescreen, shadow_screen
from screening.services.studies import study_status_refresh
from screening.services.submission import reference_clean, reference_generate, study_submit
from screening.services.text import filename_sanitise, text_clean

__all__ = [
    "DeploymentError",
    "OperatingPointChoiceError",
    "RequestMeta",
    "ReviewError",
    "SubmissionError",
    "audit_record",
    "audit_request_record",
    "filename_sanitise",
    "model_candidate_clear",
    "model_candidate_set",
    "model_promote",
    "model_rollback",
    "operating_point_choose",
    "operating_point_reset",
    "operating_point_thresholds_resolve",
    "prediction_enqueue",
    "prediction_enqueue_on_commit",
    "prediction_execute",
    "prediction_fail",
    "prediction_rerun",
    "prediction_status_set",
    "predictions_enqueue",
    "predictions_enqueue_on_commit",
    "predictions_requeue_stale",
    "reference_clean",
    "reference_generate",
    "request_meta_from",
    "review_record",
    "shadow_rescreen",
    "shadow_screen",
    "study_status_refresh",
    "study_submit",
    "text_clean",
]
