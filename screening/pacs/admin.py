"""The PACS link in the Django admin: peers (DICOM AEs), and per study what was received and
where its results stand (pending, sent, failed with the error), with a "resend" action.

The PACS's own UIDs are never shown (screening.pacs.models).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from screening.pacs import selectors
from screening.pacs.models import PacsPeer, PacsStudyLink
from screening.pacs.results import results_resend


@admin.register(PacsPeer)
class PacsPeerAdmin(admin.ModelAdmin):
    list_display = ("ae_title", "user", "host", "port", "results_by", "last_association",
                    "last_received", "studies", "results_pending", "results_failed")  # fmt: skip
    search_fields = ("ae_title", "host", "user__username")
    readonly_fields = ("last_association", "created")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.peers_annotated(peers=super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":  # a peer acts as a pacs account, with its limits
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(groups__name="pacs")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(ordering="last_received")
    def last_received(self, obj):
        return obj.last_received

    @admin.display(ordering="studies")
    def studies(self, obj):
        return obj.studies

    @admin.display(description="results pending")
    def results_pending(self, obj):
        return obj.results_pending

    @admin.display(description="results failed")
    def results_failed(self, obj):
        return obj.results_failed


class ResultsStateFilter(admin.SimpleListFilter):
    title, parameter_name = "results", "results"

    def lookups(self, request, model_admin):
        return [(s, s) for s in (selectors.PENDING, selectors.SENT, selectors.FAILED)]

    def queryset(self, request, queryset):
        return queryset.filter(results_state=self.value()) if self.value() else queryset


@admin.register(PacsStudyLink)
class PacsStudyLinkAdmin(admin.ModelAdmin):
    """Each study received from a PACS: its source, instances, and the results' state."""

    list_display = ("study_reference", "source", "instance_count", "last_received", "study_status",
                    "results_state", "results_sent", "results_error")  # fmt: skip
    list_filter = (ResultsStateFilter, "peer")
    search_fields = ("study__reference", "peer__ae_title", "study__owner__username")
    fields = ("study_reference", "source", "study_status", "results_sent", "results_error")
    readonly_fields = fields
    actions = ["resend"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.study_links_annotated(links=super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="study", ordering="study__reference")
    def study_reference(self, obj):
        return obj.study.reference

    @admin.display(description="from")
    def source(self, obj):
        if obj.peer is not None:
            return f"DIMSE: AE {obj.peer.ae_title}"
        return f"DICOMweb: {obj.study.owner.username}"

    @admin.display(description="instances", ordering="instance_count")
    def instance_count(self, obj):
        return obj.instance_count

    @admin.display(description="last instance received", ordering="last_received")
    def last_received(self, obj):
        return obj.last_received

    @admin.display(description="study status")
    def study_status(self, obj):
        return obj.study.get_status_display()

    @admin.display(description="results", ordering="results_state")
    def results_state(self, obj):
        return obj.results_state

    @admin.action(description="Resend the results of the selected studies")
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = results_resend(
            study_ids=[str(pk) for pk in queryset.values_list("study_id", flat=True)]
        )
        self.message_user(request, f"Results of {count} finished studies queued.", messages.SUCCESS)
