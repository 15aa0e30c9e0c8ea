"""The research export form (the researcher page)."""

from __future__ import annotations

from django import forms

from clinical import catalogue
from registry import access
from registry.exports import smallcell
from registry.exports.cohort import ExportOptions
from registry.exports.models import ExportJob

DATE_CHOICES = [
    ("shifted", "Shifted dates: every date of a patient moved back by one offset of 0-364 days"),
    ("relative", "Days since diagnosis instead of dates"),
]


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportJob.Format.choices, initial="csv", widget=forms.RadioSelect)
    sites = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: all of your sites."
    )
    subtypes = forms.MultipleChoiceField(
        choices=[(s.code, f"{s.code}: {s.name}") for s in catalogue.SUBTYPES.values()],
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="None selected: every subtype.",
    )
    date_from = forms.DateField(label="Records from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Records to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    dates = forms.ChoiceField(label="Dates", choices=DATE_CHOICES, initial="shifted", widget=forms.RadioSelect)
    project = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        initial="default",
        help_text="Pseudonyms are stable within a project and differ between projects.",
        error_messages={"invalid": "Use lower-case letters, digits, '-' or '_'."},
    )
    k = forms.IntegerField(
        label="Smallest group (k)",
        min_value=2,
        max_value=100,
        initial=smallcell.DEFAULT_K,
        help_text="Groups of patients sharing sex, birth decade, subtype and country smaller than k are "
        "generalised or left out.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sites"].choices = [
            (s.code, f"{s.code} - {s.name}") for s in access.export_sites_for_user(user).order_by("code")
        ]

    def options(self) -> ExportOptions:
        d = self.cleaned_data
        return ExportOptions(
            format=d["format"],
            project=d["project"],
            sites=tuple(d["sites"]),
            subtypes=tuple(d["subtypes"]),
            date_from=d["date_from"],
            date_to=d["date_to"],
            dates=d["dates"],
            k=d["k"],
        )
