"""Web forms for the screening pages (validation of shape only; rules live in services)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS

from screening.models import REVIEW_NOTE_MAX_LENGTH, Label, Review

ACCEPTED_EXTENSIONS = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
ACCEPTED_TYPES = ("image/png", "image/jpeg", "application/dicom")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Accept several files under one name; return them as a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not files:
            if self.required:
                raise forms.ValidationError("Choose at least one image file.", code="required")
            return []
        return files


class StudySubmitForm(forms.Form):
    reference = forms.CharField(
        max_length=64,
        required=False,
        strip=True,
        help_text="Optional: your own case reference (never a patient name or identifier).",
    )
    files = MultipleFileField(
        help_text="Chest X-ray images: PNG, JPEG or DICOM.",
    )

    def clean_files(self) -> list:
        files = self.cleaned_data["files"]
        limit = settings.CXR_MAX_FILES_PER_STUDY
        if len(files) > limit:
            raise forms.ValidationError(
                f"Too many files: {len(files)} chosen, at most {limit} per study.",
                code="too_many_files",
            )
        return files


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(choices=Review.Verdict.choices, widget=forms.RadioSelect)
    label = forms.ChoiceField(
        choices=[("", "—"), *Label.choices],
        required=False,
        help_text="The correct label, when you disagree.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=REVIEW_NOTE_MAX_LENGTH
    )


FILTER_LABELS = {
    "label": "Label",
    "status": "Status",
    "reviewed": "Reviewed",
    "created_after": "Submitted from",
    "created_before": "Submitted before",
    "reference": "Reference contains",
}


def filter_form_dress(*, form: forms.Form) -> forms.Form:
    """Give the case-history FilterSet's form plain labels, "Any" choices and date inputs."""
    fields = form.fields
    for name, label in FILTER_LABELS.items():
        if name in fields:
            fields[name].label = label
    for name in ("label", "status"):
        if name in fields:
            fields[name].widget.choices = [("", "Any"), *list(fields[name].choices)[1:]]
    for name in ("created_after", "created_before"):
        if name in fields:
            fields[name].widget.input_type = "date"
    if "reviewed" in fields:
        fields["reviewed"].widget.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]
    if "reference" in fields:
        fields["reference"].widget.input_type = "search"
    return form


def form_error_messages(*, form: forms.Form) -> list[str]:
    """Return the form's errors as sentences, field errors prefixed with the field's label."""
    messages = [str(error) for error in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name != NON_FIELD_ERRORS:
            messages += [f"{form[name].label}: {error}" for error in errors]
    return messages
