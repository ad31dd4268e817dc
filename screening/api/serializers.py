"""API input and output shapes (other tools rely on the output shapes: change with care)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from screening.api.disclaimer import DisclaimerField
from screening.models import REVIEW_NOTE_MAX_LENGTH, Label, Prediction, Review, Study
from screening.selectors import image_current_prediction


def _absolute(context: dict, name: str, pk) -> str:
    path = reverse(name, kwargs={"pk": pk})
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


class ProbabilitiesSerializer(serializers.Serializer):
    covid = serializers.FloatField()
    pneumonia = serializers.FloatField()
    normal = serializers.FloatField()


class ModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class ThresholdsSerializer(serializers.Serializer):
    covid_min = serializers.FloatField()
    pneumonia_min = serializers.FloatField()


class OperatingPointSerializer(serializers.Serializer):
    name = serializers.CharField()
    thresholds = ThresholdsSerializer()


def _operating_point(prediction: Prediction) -> dict | None:
    """The point a done prediction's decision was made at (None before operating points)."""
    if prediction.status != Prediction.Status.DONE or not prediction.operating_point:
        return None
    thresholds = prediction.thresholds or {}
    return {
        "name": prediction.operating_point,
        "thresholds": {k: float(thresholds.get(k, 0.0)) for k in ("covid_min", "pneumonia_min")},
    }


# The fields describe the schema; the one representation is `prediction_output_data` (a
# status read is hot: DRF's field walk is not).
class PredictionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Prediction.Status.choices)
    label = serializers.ChoiceField(
        choices=Label.choices,
        allow_null=True,
        read_only=True,
        help_text="The most likely class (argmax).",
    )
    probabilities = ProbabilitiesSerializer(allow_null=True, read_only=True)
    model = ModelSerializer(read_only=True)
    accepted = serializers.BooleanField(allow_null=True)
    reason = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="The input gate's reason when the image was refused.",
    )
    error = serializers.CharField(allow_null=True, read_only=True)
    heatmap_url = serializers.URLField(allow_null=True, read_only=True)
    image_url = serializers.URLField(read_only=True)
    # Last, so earlier keys keep their places: the screening decision (at the operating
    # point) beside the argmax `label`, and where the heatmap lies.
    decision = serializers.ChoiceField(
        choices=Label.choices,
        allow_null=True,
        read_only=True,
        help_text="The screening decision at the operating point (what reviewers judge).",
    )
    operating_point = OperatingPointSerializer(allow_null=True, read_only=True)
    evidence_in_lungs = serializers.FloatField(allow_null=True)
    evidence_outside_lungs = serializers.BooleanField()

    def to_representation(self, instance: Prediction) -> dict:
        return prediction_output_data(prediction=instance, context=self.context)


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    prediction = serializers.UUIDField(source="prediction_id")
    reviewer = serializers.CharField(source="reviewer.username")
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    label = serializers.ChoiceField(choices=Label.choices)
    note = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


class PredictionDetailSerializer(PredictionOutputSerializer):
    image = serializers.UUIDField(source="image_id")
    study = serializers.UUIDField(source="image.study_id")
    is_current = serializers.BooleanField()
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)
    reviews = ReviewOutputSerializer(many=True)
    disclaimer = DisclaimerField()

    def to_representation(self, instance: Prediction) -> dict:
        """The prediction's representation, then the detail's own fields after it."""
        data = super().to_representation(instance)
        own = set(self.fields) - set(PredictionOutputSerializer().fields)
        for name, field in self.fields.items():
            if name in own:
                value = field.get_attribute(instance)
                data[name] = None if value is None else field.to_representation(value)
        return data


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField(source="original_name")
    format = serializers.CharField()
    prediction = serializers.SerializerMethodField()

    @extend_schema_field(PredictionOutputSerializer(allow_null=True))
    def get_prediction(self, obj) -> dict | None:
        prediction = image_current_prediction(image=obj)
        if prediction is None:
            return None
        return PredictionOutputSerializer(prediction, context=self.context).data


class StudyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    status = serializers.CharField()
    created = serializers.DateTimeField()
    disclaimer = DisclaimerField()
    images = ImageOutputSerializer(many=True)
    # "upload" or "pacs" (received over DICOMweb); last, so earlier keys keep their places.
    origin = serializers.ChoiceField(choices=Study.Origin.choices, read_only=True)

    def to_representation(self, instance: Study) -> dict:
        return study_output_data(study=instance, context=self.context)


# The one representation of a prediction and of a study (their serializers above describe the
# schema and call these). Dates keep DRF's own formatting.
_datetime_field = serializers.DateTimeField()


def prediction_output_data(*, prediction: Prediction, context: dict) -> dict:
    """Return the API's representation of `prediction`."""
    status, reason = prediction.status, prediction.reason
    done = status == Prediction.Status.DONE and prediction.probabilities
    return {
        "id": str(prediction.id),
        "status": str(status),
        "label": prediction.label or None,
        "probabilities": (
            {key: float(prediction.probabilities.get(key, 0.0)) for key in Label.values}
            if done
            else None
        ),
        "model": {"name": prediction.model_name, "version": prediction.model_version},
        "accepted": None if prediction.accepted is None else bool(prediction.accepted),
        "reason": (reason or None) if status == Prediction.Status.REJECTED else None,
        "error": (reason or None) if status == Prediction.Status.FAILED else None,
        "heatmap_url": (
            _absolute(context, "api:prediction-heatmap", prediction.id)
            if prediction.heatmap
            else None
        ),
        "image_url": _absolute(context, "api:image-file", prediction.image_id),
        "decision": prediction.decision or None,
        "operating_point": _operating_point(prediction),
        "evidence_in_lungs": (
            None if prediction.evidence_in_lungs is None else float(prediction.evidence_in_lungs)
        ),
        "evidence_outside_lungs": bool(prediction.evidence_outside_lungs),
    }


def study_output_data(*, study: Study, context: dict) -> dict:
    """Return the API's representation of `study`."""
    images = []
    for image in study.images.all():
        prediction = image_current_prediction(image=image)
        images.append(
            {
                "id": str(image.id),
                "filename": str(image.original_name),
                "format": str(image.format),
                "prediction": (
                    None
                    if prediction is None
                    else prediction_output_data(prediction=prediction, context=context)
                ),
            }
        )
    return {
        "id": str(study.id),
        "reference": str(study.reference),
        "status": str(study.status),
        "created": _datetime_field.to_representation(study.created),
        "disclaimer": settings.CXR_DISCLAIMER,
        "images": images,
        "origin": str(study.origin),
    }


class ImageStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    prediction = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=Prediction.Status.choices)


class StudyStatusOutputSerializer(serializers.Serializer):
    """Where a study stands (from selectors.StudyProgress): what a poll needs, nothing more."""

    id = serializers.UUIDField(source="study_id")
    status = serializers.CharField()
    final = serializers.BooleanField()
    images = serializers.SerializerMethodField()
    disclaimer = DisclaimerField()

    @extend_schema_field(ImageStatusSerializer(many=True))
    def get_images(self, obj) -> list[dict]:
        return [
            {"id": str(image_id), "prediction": str(pid) if pid else None, "status": status}
            for image_id, pid, status in obj.images
        ]


class StudyInputSerializer(serializers.Serializer):
    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        allow_empty=False,
        help_text="One or more PNG, JPEG or DICOM files.",
    )
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=64, default="",
        help_text="Your own pseudonymous reference; never a patient name or ID.",
    )  # fmt: skip


class ReviewInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    label = serializers.ChoiceField(
        choices=Label.choices, required=False, allow_null=True, allow_blank=True, default=None
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=REVIEW_NOTE_MAX_LENGTH, default=""
    )


class TokenInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires = serializers.DateTimeField(allow_null=True, help_text="null: never")
