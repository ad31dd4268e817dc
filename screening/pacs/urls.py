"""DICOMweb routes under /dicomweb/ (STOW-RS only)."""

from django.urls import path

from screening.pacs.views import StowApi

app_name = "pacs"

urlpatterns = [
    path("studies", StowApi.as_view(), name="stow"),
    path("studies/<str:study_uid>", StowApi.as_view(), name="stow-study"),
]
