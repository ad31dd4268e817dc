"""Screening web pages (API under screening.api)."""

from django.urls import path

from screening import views

app_name = "screening"

urlpatterns = [
    path("studies/", views.history, name="history"),
    path("studies/export.csv", views.history_export, name="history_export"),
    path("studies/new/", views.study_create, name="study_create"),
    path("studies/<uuid:study_id>/", views.study_detail, name="study_detail"),
    path("studies/<uuid:study_id>/status/", views.study_status, name="study_status"),
    path("images/<uuid:image_id>/thumbnail/", views.image_thumbnail, name="image_thumbnail"),
    path(
        "predictions/<uuid:prediction_id>/heatmap/",
        views.prediction_heatmap,
        name="prediction_heatmap",
    ),
    path(
        "predictions/<uuid:prediction_id>/review/",
        views.prediction_review,
        name="prediction_review",
    ),
    path("model/", views.model_card, name="model_card"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/dashboard/", views.review_dashboard, name="review_dashboard"),
    path("review/models/", views.model_comparison, name="model_comparison"),
    path("review/models/change/", views.model_deployment_change, name="model_deployment_change"),
]
