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
"""
