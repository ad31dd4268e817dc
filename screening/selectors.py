"""Reads for the screening domain; every read is scoped to what the user may see.

CONTRACT:
    study_list_for(*, user, filters: Mapping | None = None) -> QuerySet[Study]
        (clinician: own; reviewer/admin: all), with images/current predictions prefetched
    study_get_for(*, user, study_id) -> Study            raises Http404 when not visible
    image_get_for(*, user, image_id) -> Image            raises Http404
    prediction_get_for(*, user, prediction_id) -> Prediction   raises Http404
    review_queue_for(*, user) -> QuerySet[Prediction]    unreviewed done predictions, oldest first
    agreement_by_model_version() -> list[dict]           {model_name, model_version, reviews, agree, rate}
"""
