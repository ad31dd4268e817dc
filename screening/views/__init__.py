"""Screening web pages: thin; reads through selectors, writes through services.

studies   study_create, study_detail, study_status (htmx), model_card
files     image_thumbnail, prediction_heatmap (through screening.serving, as the API)
history   history, history_export (CSV rows from screening.exports)
reviews   prediction_review, review_queue, review_dashboard
comparison  model_comparison (current vs candidate), model_deployment_change (admins)
common    login_required_htmx, the reviewer check, image cards
"""

from screening.views.comparison import model_comparison, model_deployment_change
from screening.views.files import image_thumbnail, prediction_heatmap
from screening.views.history import history, history_export
from screening.views.reviews import prediction_review, review_dashboard, review_queue
from screening.views.studies import model_card, study_create, study_detail, study_status

__all__ = [
    "history",
    "history_export",
    "image_thumbnail",
    "model_card",
    "model_comparison",
    "model_deployment_change",
    "prediction_heatmap",
    "prediction_review",
    "review_dashboard",
    "review_queue",
    "study_create",
    "study_detail",
    "study_status",
]
