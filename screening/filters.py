"""FilterSets shared by the API and the web case history."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from screening.models import Label, Study


class UTCDateTimeField(forms.DateTimeField):
    """A date-time converted to UTC, so the database never sees an odd offset.

    PostgreSQL refuses offsets beyond +-15:59 (a 500), and an offset can push a date outside
    years 1-9999: both are invalid input (400) instead.
    """

    def to_python(self, value):
        result = super().to_python(value)
        if result is None or not timezone.is_aware(result):
            return result
        try:
            return result.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(
                "Enter a date and time between the years 1 and 9999.", code="invalid"
            ) from None


class UTCDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UTCDateTimeField


class StudyFilter(django_filters.FilterSet):
    """?label=&status=&reviewed=&created_after=&created_before=&reference="""

    label = django_filters.ChoiceFilter(
        choices=Label.choices, method="filter_label", label="Predicted label"
    )
    status = django_filters.ChoiceFilter(choices=Study.Status.choices)
    reviewed = django_filters.BooleanFilter(method="filter_reviewed", label="Reviewed")
    created_after = UTCDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created", lookup_expr="lt")
    reference = django_filters.CharFilter(
        field_name="reference", lookup_expr="icontains", max_length=64
    )

    class Meta:
        model = Study
        fields = ["label", "status", "reviewed", "created_after", "created_before", "reference"]

    def filter_label(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Study.labels is kept by study_status_refresh: no join, so counting 100k rows is cheap.
        return queryset.filter(labels__contains=f"|{value}|")

    def filter_reviewed(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(reviewed=value)
