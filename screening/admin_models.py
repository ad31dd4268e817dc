"""Django admin for the models in force: the history of changes, a candidate's registration,
and its shadow screens (read-only; admins only, never shown to clinicians)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from screening.models import ModelDeployment, ShadowPrediction
from screening.services import (
    DeploymentError,
    model_candidate_clear,
    model_candidate_set,
    request_meta_from,
)


class CandidateForm(forms.ModelForm):
    """Register a candidate by its registry name; the service checks its files."""

    class Meta:
        model = ModelDeployment
        fields = ("candidate", "note")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["candidate"].required = True


@admin.register(ModelDeployment)
class ModelDeploymentAdmin(admin.ModelAdmin):
    """Each row a change; "Add" registers a candidate, the action clears it."""

    form = CandidateForm
    list_display = ("changed", "action", "in_force", "candidate", "previous", "changed_by")
    list_filter = ("action",)
    actions = ["candidate_clear"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the history is a record

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_clear_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if request.method != "POST":
            return super().add_view(request, form_url, extra_context)
        # The service writes and audits; the admin's own save never runs.
        form = CandidateForm(request.POST)
        try:
            if not form.is_valid():
                raise DeploymentError("Give the candidate's registry name.")
            model_candidate_set(
                name=form.cleaned_data["candidate"],
                note=form.cleaned_data["note"],
                actor=request.user,
                meta=request_meta_from(request=request),
            )
        except DeploymentError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:screening_modeldeployment_add"))
        self.message_user(request, "Candidate registered.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:screening_modeldeployment_changelist"))

    @admin.action(description="Clear the candidate (stop shadow screening)", permissions=["clear"])
    def candidate_clear(self, request: HttpRequest, queryset) -> None:
        row = model_candidate_clear(actor=request.user, meta=request_meta_from(request=request))
        text = "Candidate cleared." if row else "No candidate was set."
        self.message_user(request, text, messages.SUCCESS)


@admin.register(ShadowPrediction)
class ShadowPredictionAdmin(admin.ModelAdmin):
    list_display = ("image", "model_name", "model_version", "accepted", "decision", "created")
    list_filter = ("model_name", "accepted", "decision")
    readonly_fields = (
        "image", "model_name", "model_version", "accepted", "reason", "label", "decision",
        "operating_point", "thresholds", "probabilities", "timings_ms", "created",
    )  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser
