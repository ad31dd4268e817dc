"""POST /dicomweb/studies[/{study}]: DICOM PS3.18 STOW-RS, token-authenticated, pacs role."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from screening.pacs.access import MayStow
from screening.pacs.multipart import StowRequestError, body_read, boundary_get, parts_split
from screening.pacs.stow import stow_response, stow_store, uid_is_valid

BAD_STUDY_UID = "The study UID in the path is not a DICOM UID (digits and dots, at most 64)."


class DicomJsonRenderer(JSONRenderer):
    media_type = "application/dicom+json"
    format = "dicomjson"


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Answer DICOM JSON whatever the Accept header says (clients differ)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class StowApi(APIView):
    """Store instances: each becomes an Image of the Study of its StudyInstanceUID.

    Under /studies/{study} an instance of another study is refused (the others are stored).
    """

    permission_classes = [IsAuthenticated, MayStow]
    renderer_classes = [DicomJsonRenderer, JSONRenderer]
    content_negotiation_class = AnyAcceptNegotiation
    parser_classes: list = []  # the body is read by hand: multipart/related is not a form
    throttle_submissions = True

    @extend_schema(exclude=True)
    def post(self, request: Request, *, study_uid: str | None = None) -> Response:
        from screening.services import request_meta_from

        if study_uid is not None and not uid_is_valid(uid=study_uid):
            return Response({"detail": BAD_STUDY_UID}, status=400)
        django_request = request._request
        try:
            boundary = boundary_get(content_type=django_request.META.get("CONTENT_TYPE", ""))
            body = body_read(request=django_request, limit=settings.CXR_PACS_MAX_REQUEST_BYTES)
            parts = parts_split(body=body, boundary=boundary)
        except StowRequestError as exc:
            return Response({"detail": exc.message}, status=exc.http_status)
        outcomes = stow_store(
            owner=request.user,
            parts=parts,
            meta=request_meta_from(request=request),
            study_uid=study_uid,
        )
        body, status = stow_response(outcomes=outcomes)
        return Response(body, status=status)
