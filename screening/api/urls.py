"""API routes: /api/v1/... plus the OpenAPI schema and Swagger UI."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from screening.api import views

app_name = "api"

urlpatterns = [
    path("v1/auth/token/", views.TokenObtainApi.as_view(), name="token"),
    path("v1/model/", views.ModelCardApi.as_view(), name="model-card"),
    path("v1/studies/", views.StudyListCreateApi.as_view(), name="study-list"),
    path("v1/studies/<uuid:pk>/", views.StudyDetailApi.as_view(), name="study-detail"),
    path("v1/studies/<uuid:pk>/status/", views.StudyStatusApi.as_view(), name="study-status"),
    path("v1/images/<uuid:pk>/file/", views.ImageFileApi.as_view(), name="image-file"),
    path(
        "v1/images/<uuid:pk>/thumbnail/",
        views.ImageThumbnailApi.as_view(),
        name="image-thumbnail",
    ),
    path(
        "v1/predictions/<uuid:pk>/", views.PredictionDetailApi.as_view(), name="prediction-detail"
    ),
    path(
        "v1/predictions/<uuid:pk>/review/",
        views.PredictionReviewApi.as_view(),
        name="prediction-review",
    ),
    path(
        "v1/predictions/<uuid:pk>/heatmap/",
        views.PredictionHeatmapApi.as_view(),
        name="prediction-heatmap",
    ),
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script from a URL: the CSP forbids inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", views.api_not_found),
]
