"""Django admin for screening: predictions and the audit log are read-only records.

Images and heatmaps are previewed through the permission-checked API file URLs (media has no
public URL). Admin changes to studies and reviews are written to the audit log.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from screening.models import (
    AuditEvent,
    Image,
    OperatingPointChoice,
    Prediction,
    Review,
    Study,
)
from screening.permissions import study_scope
from screening.selectors import image_current_prediction, model_name_configured
from screening.services import (
    OperatingPointChoiceError,
    audit_record,
    operating_point_choose,
    operating_point_reset,
    operating_point_thresholds_resolve,
    prediction_rerun,
    request_meta_from,
    study_status_refresh,
)


def _thumbnail_html(image: Image, size: int = 96) -> str:
    if not image.thumbnail:
        return "-"
    url = reverse("api:image-thumbnail", kwargs={"pk": image.pk})
    full = reverse("api:image-file", kwargs={"pk": image.pk})
    return format_html(
        '<a href="{}"><img src="{}" alt="thumbnail" style="max-width:{}px;max-height:{}px"></a>',
        full, url, size, size,
    )  # fmt: skip


def _heatmap_html(prediction: Prediction, size: int = 160) -> str:
    if not prediction.heatmap:
        return "-"
    url = reverse("api:prediction-heatmap", kwargs={"pk": prediction.pk})
    return format_html(
        '<a href="{}"><img src="{}" alt="heatmap" style="max-width:{}px;max-height:{}px"></a>',
        url, url, size, size,
    )  # fmt: skip


class StudyScopedAdminMixin:
    """Show a reviewer only the rows of their site's studies (admins: all), as the pages do."""

    study_owner_path = "owner"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return study_scope(user=request.user, queryset=queryset, owner_path=self.study_owner_path)


class AuditedAdminMixin:
    """Write admin.add / admin.change / admin.delete audit events for every admin write."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="admin.change" if change else "admin.add",
            obj=obj,
            meta=request_meta_from(request=request),
            detail={"changed": list(form.changed_data)} if form is not None else {},
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=request.user,
            action="admin.delete",
            obj=obj,
            meta=request_meta_from(request=request),
            detail={"repr": str(obj)[:200]},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        meta = request_meta_from(request=request)
        for obj in queryset:
            audit_record(
                actor=request.user, action="admin.delete", obj=obj, meta=meta,
                detail={"repr": str(obj)[:200]},
            )  # fmt: skip
        super().delete_queryset(request, queryset)


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("preview", "original_name", "format", "width", "height", "current_status")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # images arrive through the submission service only

    @admin.display(description="preview")
    def preview(self, obj: Image) -> str:
        return _thumbnail_html(obj)

    @admin.display(description="current prediction")
    def current_status(self, obj: Image) -> str:
        prediction = image_current_prediction(image=obj)
        if prediction is None:
            return "-"
        return f"{prediction.status} {prediction.finding}".strip()


@admin.register(Study)
class StudyAdmin(StudyScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("reference", "owner", "site", "origin", "status", "image_count", "created")
    list_filter = ("status", "site", "origin", "created")
    search_fields = ("reference",)
    date_hierarchy = "created"
    readonly_fields = (
        "id", "owner", "site", "origin", "status", "idempotency_key", "created", "updated",
    )  # fmt: skip
    # The client's Idempotency-Key, if it sent one: support can tell a resend from a new study.
    fields = (
        "id", "reference", "owner", "site", "origin", "status", "idempotency_key", "created",
        "updated",
    )  # fmt: skip
    inlines = [ImageInline]
    list_select_related = ("owner", "site")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_image_count=Count("images"))

    def has_add_permission(self, request) -> bool:
        return False  # studies are created through the submission service

    @admin.display(description="images", ordering="_image_count")
    def image_count(self, obj: Study) -> int:
        return obj._image_count


class PredictionInline(admin.TabularInline):
    model = Prediction
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "status",
        "decision",
        "label",
        "model_name",
        "model_version",
        "is_current",
        "created",
        "heatmap_preview",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="heatmap")
    def heatmap_preview(self, obj: Prediction) -> str:
        return _heatmap_html(obj, size=96)


@admin.register(Image)
class ImageAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    study_owner_path = "study__owner"
    list_display = ("original_name", "study", "format", "width", "height", "created")
    list_filter = ("format", "created")
    search_fields = ("study__reference", "sha256")
    list_select_related = ("study",)
    fields = (
        "id", "study", "position", "preview", "original_name", "format", "sha256", "size_bytes",
        "width", "height", "dicom_attributes", "created",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [PredictionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the stored file and its hash must match: never edited by hand

    @admin.display(description="preview")
    def preview(self, obj: Image) -> str:
        return _thumbnail_html(obj, size=256)


@admin.register(Prediction)
class PredictionAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    study_owner_path = "image__study__owner"
    list_display = (
        "id", "study_reference", "status", "decision", "label", "operating_point", "model_name",
        "model_version", "is_current", "attempts", "created",
    )  # fmt: skip
    list_filter = (
        "status", "decision", "label", "operating_point", "model_version", "is_current", "created",
    )  # fmt: skip
    search_fields = ("image__study__reference",)
    list_select_related = ("image", "image__study")
    date_hierarchy = "created"
    actions = ["rerun"]
    fields = (
        "id", "image", "image_preview", "heatmap_preview", "is_current", "status", "decision",
        "operating_point", "thresholds", "label", "probabilities", "evidence_in_lungs",
        "evidence_outside_lungs", "reason", "model_name", "model_version", "timings_ms",
        "attempts", "created", "enqueued", "started", "finished",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a prediction is a record of what the model said

    def has_rerun_permission(self, request) -> bool:
        return request.user.is_active and (
            request.user.is_superuser or request.user.has_perm("screening.add_prediction")
        )

    @admin.display(description="study", ordering="image__study__reference")
    def study_reference(self, obj: Prediction) -> str:
        return obj.image.study.reference

    @admin.display(description="image")
    def image_preview(self, obj: Prediction) -> str:
        return _thumbnail_html(obj.image, size=256)

    @admin.display(description="heatmap")
    def heatmap_preview(self, obj: Prediction) -> str:
        return _heatmap_html(obj, size=256)

    @admin.display(description="check: heatmap outside the lung fields", boolean=True)
    def evidence_outside_lungs(self, obj: Prediction) -> bool:
        return obj.evidence_outside_lungs

    @admin.action(description="Re-run with the current model", permissions=["rerun"])
    def rerun(self, request: HttpRequest, queryset: QuerySet) -> None:
        meta = request_meta_from(request=request)
        images = {prediction.image_id: prediction.image for prediction in queryset}
        for image in images.values():
            prediction_rerun(image=image, actor=request.user, meta=meta)
        self.message_user(
            request, f"Queued {len(images)} new prediction(s) with the current model.",
            messages.SUCCESS,
        )  # fmt: skip


class OperatingPointChoiceForm(forms.ModelForm):
    """Thresholds may be left blank: the card's point of that name is then copied."""

    covid_min = forms.FloatField(required=False, min_value=0.0, max_value=1.0)
    pneumonia_min = forms.FloatField(required=False, min_value=0.0, max_value=1.0)

    class Meta:
        model = OperatingPointChoice
        fields = ("model_name", "name", "covid_min", "pneumonia_min", "note")

    def clean(self) -> dict:
        data = super().clean()
        if "model_name" in data:
            self.instance.model_name = data["model_name"]
        try:
            operating_point_thresholds_resolve(
                model_name=self.instance.model_name,
                name=(data.get("name") or "").strip(),
                covid_min=data.get("covid_min"),
                pneumonia_min=data.get("pneumonia_min"),
            )
        except OperatingPointChoiceError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(OperatingPointChoice)
class OperatingPointChoiceAdmin(admin.ModelAdmin):
    """The point a model runs at; every change goes through the service and the audit log."""

    form = OperatingPointChoiceForm
    list_display = ("model_name", "name", "covid_min", "pneumonia_min", "changed_by", "changed")
    readonly_fields = ("changed_by", "changed")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {
            "model_name": model_name_configured(),
            **super().get_changeform_initial_data(request),
        }

    def get_readonly_fields(self, request, obj=None):
        # One row per model: the model is fixed once chosen.
        return (*self.readonly_fields, "model_name") if obj else self.readonly_fields

    def save_form(self, request, form, change):
        # The service writes (and audits); the form has already checked the point.
        data = form.cleaned_data
        return operating_point_choose(
            model_name=form.instance.model_name,
            name=data["name"],
            covid_min=data.get("covid_min"),
            pneumonia_min=data.get("pneumonia_min"),
            note=data.get("note", ""),
            actor=request.user,
            meta=request_meta_from(request=request),
        )

    def save_model(self, request, obj, form, change):
        pass  # saved by the service in save_form

    def save_related(self, request, form, formsets, change):
        pass  # no relations beyond the user the service records

    def delete_model(self, request, obj):
        operating_point_reset(
            model_name=obj.model_name, actor=request.user, meta=request_meta_from(request=request)
        )

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Review)
class ReviewAdmin(StudyScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    study_owner_path = "prediction__image__study__owner"
    list_display = ("prediction", "reviewer", "verdict", "label", "created")
    list_filter = ("verdict", "label", "created")
    search_fields = ("prediction__image__study__reference", "reviewer__username")
    list_select_related = ("reviewer", "prediction")
    raw_id_fields = ("prediction",)
    readonly_fields = ("created", "updated")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "prediction":  # a typed-in id of another site's prediction is invalid
            kwargs["queryset"] = study_scope(
                user=request.user,
                queryset=Prediction.objects.all(),
                owner_path="image__study__owner",
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = ["prediction", "reviewer", "verdict", "label", "note", "created", "updated"]
        if not request.user.is_superuser:
            fields.remove("reviewer")  # reviewers review as themselves
        return fields

    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superuser:
            obj.reviewer = request.user
        super().save_model(request, obj, form, change)
        study_status_refresh(study=obj.prediction.image.study)

    def delete_model(self, request, obj):
        study = obj.prediction.image.study
        super().delete_model(request, obj)
        study_status_refresh(study=study)

    def delete_queryset(self, request, queryset):
        # The bulk "delete selected" action skips delete_model: refresh each study it touched
        # so its derived "reviewed" flag and labels follow.
        studies = list(Study.objects.filter(images__predictions__reviews__in=queryset).distinct())
        super().delete_queryset(request, queryset)
        for study in studies:
            study_status_refresh(study=study)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created", "actor_username", "action", "object_type", "object_id", "ip_address")
    list_filter = ("action", "object_type", "created")
    search_fields = ("actor_username", "object_id", "action")
    date_hierarchy = "created"
    readonly_fields = (
        "created", "actor", "actor_username", "action", "object_type", "object_id", "ip_address",
        "user_agent", "detail",
    )  # fmt: skip
    fields = readonly_fields

    # Append-only, for everyone (superusers included): the log must be trustworthy.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The models in force and shadow screens register from their own module.
import screening.admin_models  # noqa: E402, F401
