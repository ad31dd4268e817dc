"""API views: thin; reads through selectors, writes through services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAcceptable, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.tokens import token_expires_at, token_issue
from portal.throttling import LoginRateThrottle, ScopedRateThrottle
from screening.api.disclaimer import disclaimer_add
from screening.api.parsers import JSONParser
from screening.api.serializers import (
    PredictionDetailSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
    StudyInputSerializer,
    StudyOutputSerializer,
    StudyStatusOutputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    study_output_data,
)
from screening.conditional import conditional_headers_set, etag_for_viewer, not_modified_or_none
from screening.filters import StudyFilter
from screening.models import Study
from screening.pagination import CountCappedPaginator
from screening.permissions import user_may_review
from screening.selectors import (
    image_get_for,
    model_card_summary,
    prediction_get_for,
    study_get_for,
    study_list_for,
    study_progress_for,
)
from screening.services import (
    audit_record,
    audit_request_record,
    request_meta_from,
    review_record,
    study_submit,
)
from screening.serving import image_file_serve, image_thumbnail_serve, prediction_heatmap_serve


class StudyPageNumberPagination(PageNumberPagination):
    """`?page=N`: counted pages (an OFFSET: a deep page reads every row before it)."""

    django_paginator_class = CountCappedPaginator
    page_size_query_param = "page_size"
    max_page_size = 100


class StudyPagination(CursorPagination):
    """Pages of studies by key: `next` and `previous` carry a cursor (the created time of the
    row they start from), so page 100 costs what page 1 does. `?page=N` still answers counted
    pages. `count` is exact up to COUNT_CAP, and COUNT_CAP + 1 means more."""

    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created", "-id")
    _numbered: StudyPageNumberPagination | None = None
    count: int = 0

    def paginate_queryset(self, queryset, request, view=None):
        if "page" in request.query_params:
            self._numbered = StudyPageNumberPagination()
            return self._numbered.paginate_queryset(queryset, request, view)
        self.count = CountCappedPaginator(queryset, 1).count
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        if self._numbered is not None:
            return self._numbered.get_paginated_response(data)
        links = {"next": self.get_next_link(), "previous": self.get_previous_link()}
        return Response({"count": self.count, **links, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["count"] = {"type": "integer"}
        paginated["properties"]["disclaimer"] = {"type": "string"}
        paginated["required"] = [*paginated.get("required", []), "count", "disclaimer"]
        return paginated


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle, LoginRateThrottle]
    throttle_scope = "auth"
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=TokenInputSerializer, responses={200: TokenOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # django-axes needs the request to count failures and lock out guessers.
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            # Answer in JSON ourselves; axes' middleware would swap in its HTML page.
            request._request.axes_locked_out = False
            return Response(
                {"detail": "Too many failed logins: try again later.", "code": "locked_out"},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            raise ValidationError("Unable to log in with the given username and password.")
        token = token_issue(user=user)
        audit_record(
            actor=user, action="auth.token", obj=user, meta=request_meta_from(request=request)
        )
        return Response({"token": token.key, "expires": token_expires_at(token=token)})


class StudyListCreateApi(GenericAPIView):
    """List the studies you may see; submit a new study of one or more images."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_submissions = True
    pagination_class = StudyPagination
    filterset_class = StudyFilter
    serializer_class = StudyOutputSerializer

    def get_queryset(self):
        return study_list_for(user=self.request.user)

    @extend_schema(responses={200: StudyOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        data = StudyOutputSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": StudyInputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Optional, 1-64 visible ASCII characters (a UUID). Sending the "
                "same request again with the same key returns the study it first made (200, "
                "`Idempotent-Replayed: true`) instead of storing a second one: safe to retry "
                "after a lost answer or a 503. The same key with other content is a 422.",
            )
        ],
        responses={
            201: StudyOutputSerializer,
            200: OpenApiResponse(StudyOutputSerializer, description="A replay of a stored key"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = StudyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submitted = serializer.validated_data
        study = study_submit(
            owner=request.user, files=submitted["images"], reference=submitted["reference"],
            meta=request_meta_from(request=request),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )  # fmt: skip
        # The service hands back the study with its images and predictions: no re-read.
        data = StudyOutputSerializer(study, context={"request": request}).data
        if study.replayed:
            headers = {"Idempotent-Replayed": "true"}
            return Response(data, status=status.HTTP_200_OK, headers=headers)
        return Response(data, status=status.HTTP_201_CREATED)


def _read_response(*, request: Request, obj: Any, serializer_class: type) -> Response:
    """Audit that the user read `obj` ("study.view", "prediction.view") and answer it."""
    audit_request_record(request=request, action=f"{obj._meta.model_name}.view", obj=obj)
    return Response(serializer_class(obj, context={"request": request}).data)


class StudyDetailApi(APIView):
    """One study with its images and their current predictions (304 on a matching ETag)."""

    @extend_schema(responses={200: StudyOutputSerializer, 304: OpenApiResponse()})
    def get(self, request: Request, pk) -> HttpResponse:
        progress = study_progress_for(user=request.user, study_id=pk)
        etag = etag_for_viewer(request=request, fingerprint=progress.fingerprint)
        # Every read is audited, also one the client answers from its own copy.
        audit_request_record(request=request, action="study.view", obj=Study(pk=progress.study_id))
        unchanged = not_modified_or_none(request=request, etag=etag)
        if unchanged is not None:
            return unchanged
        study = study_get_for(user=request.user, study_id=pk, reviews=False)
        # The serializer's output from a plain function: DRF serializing was half the read.
        response = Response(study_output_data(study=study, context={"request": request}))
        return conditional_headers_set(response=response, etag=etag)


class StudyStatusApi(APIView):
    """Where a study stands, from one query: for polling (304 on a matching ETag)."""

    @extend_schema(responses={200: StudyStatusOutputSerializer, 304: OpenApiResponse()})
    def get(self, request: Request, pk) -> HttpResponse:
        progress = study_progress_for(user=request.user, study_id=pk)
        etag = etag_for_viewer(request=request, fingerprint=progress.fingerprint)
        unchanged = not_modified_or_none(request=request, etag=etag)
        if unchanged is not None:
            return unchanged
        response = Response(StudyStatusOutputSerializer(progress).data)
        return conditional_headers_set(response=response, etag=etag)


class ModelCardApi(APIView):
    """The configured model: identity, held-out test figures and limits (from its card)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiResponse()})
    def get(self, request: Request) -> Response:
        card = model_card_summary()
        if card is None:
            return Response(
                {"detail": "The model is not available."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(card)


class PredictionDetailApi(APIView):
    """One prediction, with its reviews."""

    @extend_schema(responses={200: PredictionDetailSerializer})
    def get(self, request: Request, pk) -> Response:
        prediction = prediction_get_for(user=request.user, prediction_id=pk)
        return _read_response(
            request=request, obj=prediction, serializer_class=PredictionDetailSerializer
        )


class PredictionReviewApi(APIView):
    """Record your review of a prediction (reviewers only)."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=ReviewInputSerializer,
        responses={201: ReviewOutputSerializer, 200: ReviewOutputSerializer},
    )
    def post(self, request: Request, pk) -> Response:
        # 404 first: a clinician must not learn that another user's prediction exists.
        prediction = prediction_get_for(user=request.user, prediction_id=pk)
        if not user_may_review(user=request.user):
            raise PermissionDenied("Only reviewers may review predictions.")
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        existed = prediction.reviews.filter(reviewer=request.user).exists()
        review = review_record(
            prediction=prediction,
            reviewer=request.user,
            meta=request_meta_from(request=request),
            **serializer.validated_data,
        )
        return Response(
            ReviewOutputSerializer(review).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class FileNegotiation(DefaultContentNegotiation):
    """Serve files whatever the Accept header says (an <img> may ask for image/png only)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class FileApi(APIView):
    """Base of the file endpoints: served whatever the Accept header asks for."""

    content_negotiation_class = FileNegotiation


class ImageFileApi(FileApi):
    """The original (de-identified) image; ?download=1 asks for an attachment."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY, 302: OpenApiResponse()})
    def get(self, request: Request, pk) -> HttpResponse:
        image = image_get_for(user=request.user, image_id=pk)
        download = request.query_params.get("download") in ("1", "true", "yes")
        return image_file_serve(request=request, image=image, download=download)


class ImageThumbnailApi(FileApi):
    """A small preview of the image: JPEG (PNG for studies stored before JPEG previews)."""

    @extend_schema(
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
        }
    )
    def get(self, request: Request, pk) -> HttpResponse:
        image = image_get_for(user=request.user, image_id=pk)
        return image_thumbnail_serve(request=request, image=image)


class PredictionHeatmapApi(FileApi):
    """The Grad-CAM heatmap overlay of a finished prediction: JPEG (PNG for older ones)."""

    @extend_schema(
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
        }
    )
    def get(self, request: Request, pk) -> HttpResponse:
        prediction = prediction_get_for(user=request.user, prediction_id=pk)
        return prediction_heatmap_serve(request=request, prediction=prediction)


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Answer unknown API paths with JSON, like every other API response."""
    return JsonResponse(disclaimer_add({"detail": "Not found."}), status=404)
