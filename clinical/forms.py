"""Form shapes for the clinical screens. They parse what the user typed; the rules
(plausibility limits, units, overlaps, versions) live in ``clinical.services``, whose
field-keyed errors are put back next to the right input with :func:`apply_errors`."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory

from clinical import catalogue
from clinical.models import InjectionSiteFinding, LiverUltrasound, StopReason

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def number_field(label: str, *, required: bool = False, help_text: str = "", placeholder: str = "") -> forms.CharField:
    """A number typed as text: the service parses it (comma decimals too) and names the
    accepted range in its message."""
    attrs: dict[str, Any] = {"inputmode": "decimal", "autocomplete": "off"}
    if placeholder:
        attrs["placeholder"] = placeholder
    if required:
        attrs["required"] = True  # marked for the user; the service checks it
    return forms.CharField(
        label=label, required=False, max_length=30, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


def choice_field(label: str, choices, *, required: bool = False) -> forms.CharField:
    """A select whose value the service validates (so its message lists what is accepted)."""
    attrs = {"required": True} if required else {}
    return forms.CharField(
        label=label, required=False, max_length=40, widget=forms.Select(choices=choices, attrs=attrs)
    )


# Required-ness is the services' rule: fields are optional here (marked required for the
# user and assistive technology) so that one submit reports every missing or wrong value.
def date_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DateField:
    attrs: dict[str, Any] = {"type": "date"}
    if required:
        attrs["required"] = True
    return forms.DateField(
        label=label, required=False, help_text=help_text, widget=forms.DateInput(attrs=attrs, format="%Y-%m-%d")
    )


class A11yFormMixin:
    """Ties each field's errors to its input (aria-invalid, aria-describedby) and sends
    errors of unknown keys to the form's non-field errors instead of failing."""

    def add_error(self, field, error):
        if field is not None and field not in self.fields:  # type: ignore[attr-defined]
            field = None
        super().add_error(field, error)  # type: ignore[misc]
        self.mark_errors()

    def mark_errors(self) -> None:
        for name in self._errors or {}:  # type: ignore[attr-defined]
            if name not in self.fields:  # type: ignore[attr-defined]
                continue
            bound = self[name]  # type: ignore[index]
            ids = [f"{bound.auto_id}_errors"]
            if bound.help_text:
                ids.append(f"{bound.auto_id}_helptext")
            attrs = self.fields[name].widget.attrs  # type: ignore[attr-defined]
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = " ".join(ids)


def apply_errors(form: forms.BaseForm, exc: ValidationError, *, prefix: str = "") -> None:
    """Put a service's field-keyed ValidationError onto ``form``."""
    for key, messages in exc.message_dict.items():
        name = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        form.add_error(name if name in form.fields else None, messages)


def unit_map() -> dict[str, dict[str, Any]]:
    """analyte -> accepted units and the display unit per system (for the unit picker)."""
    return {
        a.code: {
            "units": list(a.accepted_units),
            "conventional": a.display_unit(catalogue.CONVENTIONAL).unit,
            "si": a.display_unit(catalogue.SI).unit,
        }
        for a in catalogue.ANALYTES.values()
    }


ALL_UNITS = sorted({u for a in catalogue.ANALYTES.values() for u in a.accepted_units}, key=str.lower)
FASTING_CHOICES = [("", "Unknown"), ("yes", "Fasting"), ("no", "Not fasting")]


def fasting_value(raw: str) -> bool | None:
    return {"yes": True, "no": False}.get(raw)


def fasting_raw(value: bool | None) -> str:
    return {True: "yes", False: "no"}.get(value, "")  # type: ignore[arg-type]


# --- visit ------------------------------------------------------------------------------


class VisitFieldsForm(A11yFormMixin, forms.Form):
    visit_date = date_field("Visit date")
    weight_kg = number_field("Weight (kg)")
    height_cm = number_field("Height (cm)")
    waist_cm = number_field("Waist (cm)")
    hip_cm = number_field("Hip (cm)")
    systolic_bp = number_field("Systolic BP (mmHg)")
    diastolic_bp = number_field("Diastolic BP (mmHg)")
    dxa_total_fat_pct = number_field("DXA total fat (%)")
    dxa_trunk_fat_pct = number_field("DXA trunk fat (%)")
    dxa_leg_fat_pct = number_field("DXA leg fat (%)")
    dxa_arm_fat_pct = number_field("DXA arm fat (%)")
    liver_ultrasound = forms.ChoiceField(label="Liver ultrasound", choices=LiverUltrasound.choices, required=False)
    liver_pdff_pct = number_field("Liver MRI-PDFF (%)")
    liver_stiffness_kpa = number_field("Liver stiffness (kPa)")
    liver_cap_dbm = number_field("CAP (dB/m)")
    injection_site_finding = forms.ChoiceField(
        label="Injection sites", choices=InjectionSiteFinding.choices, required=False
    )
    injection_site_notes = forms.CharField(label="Injection-site notes", required=False, max_length=500)
    rotation_education_given = forms.BooleanField(label="Site rotation education given", required=False)
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def visit_fields(self) -> dict[str, Any]:
        names = list(VisitFieldsForm.base_fields)
        return {n: self.cleaned_data.get(n) for n in names}


class VisitForm(VisitFieldsForm):
    site = forms.ModelChoiceField(label="Site", queryset=None, empty_label=None)  # type: ignore[arg-type]

    field_order = ["visit_date", "site"]

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].to_field_name = "code"


class ChangeFields(forms.Form):
    """What every edit of a saved record carries: the version the user loaded (optimistic
    concurrency) and the reason for change (the service requires it and audits it)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    change_reason = forms.CharField(
        label="Reason for change",
        required=False,
        max_length=500,
        help_text="Required: recorded in the audit trail.",
        widget=forms.TextInput(attrs={"required": True}),
    )


class VisitEditForm(VisitFieldsForm, ChangeFields):
    pass


class LabRowForm(A11yFormMixin, forms.Form):
    """One row of a visit's lab panel; a row with neither analyte nor value is skipped."""

    # Pickers as free text: the service names the accepted analytes / units, so every
    # row's errors come back in one pass.
    analyte = choice_field("Analyte", [("", "-")] + catalogue.ANALYTE_CHOICES)
    value = number_field("Value")
    unit = choice_field("Unit", [("", "-")] + [(u, u) for u in ALL_UNITS])
    collected_on = date_field("Collected", required=False, help_text="Blank: the visit date.")
    fasting = forms.ChoiceField(label="Fasting", choices=FASTING_CHOICES, required=False)
    reference_low = number_field("Ref. low", placeholder="lab range")
    reference_high = number_field("Ref. high", placeholder="lab range")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["analyte"].widget.attrs["data-unit-source"] = "1"
        self.fields["unit"].widget.attrs["data-unit-target"] = "1"

    def is_blank(self) -> bool:
        d = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not d.get("analyte") and not (d.get("value") or "").strip()


class SkinfoldRowForm(A11yFormMixin, forms.Form):
    site = choice_field("Skinfold site", [("", "-"), *catalogue.SKINFOLD_SITES])
    mm = number_field("Thickness (mm)")

    def is_blank(self) -> bool:
        d = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not d.get("site") and not (d.get("mm") or "").strip()


_HPO_ID = re.compile(r"HP:\d{7}", re.IGNORECASE)
_HPO_BY_LABEL = {label.lower(): code for code, label in catalogue.HPO_TERMS.items()}


def hpo_from_text(text: str) -> str:
    """``HP:0002155 Hypertriglyceridemia``, ``HP:0002155`` or the exact label -> the id;
    anything else comes back as typed, for the service to refuse."""
    text = (text or "").strip()
    m = _HPO_ID.search(text)
    if m:
        return m.group(0).upper()
    return _HPO_BY_LABEL.get(text.lower(), text)


def hpo_option(code: str) -> str:
    return f"{code} {catalogue.HPO_TERMS[code]}"


class PhenotypeRowForm(A11yFormMixin, forms.Form):
    term = forms.CharField(
        label="HPO finding",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "hpo-terms", "autocomplete": "off", "placeholder": "type to search"}),
    )
    status = forms.ChoiceField(label="Status", choices=[("present", "Present"), ("excluded", "Excluded")])

    def is_blank(self) -> bool:
        d = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not (d.get("term") or "").strip()


LabFormSet = formset_factory(LabRowForm, extra=3, max_num=60, validate_max=True)
SkinfoldFormSet = formset_factory(SkinfoldRowForm, extra=2, max_num=len(catalogue.SKINFOLD_SITES), validate_max=True)
PhenotypeFormSet = formset_factory(PhenotypeRowForm, extra=2, max_num=len(catalogue.HPO_TERMS), validate_max=True)


# --- single lab results -----------------------------------------------------------------


class LabForm(A11yFormMixin, forms.Form):
    analyte = choice_field("Analyte", [("", "-")] + catalogue.ANALYTE_CHOICES, required=True)
    value = number_field("Value", required=True)
    unit = choice_field("Unit", [("", "-")] + [(u, u) for u in ALL_UNITS], required=True)
    collected_on = date_field("Collection date")
    fasting = forms.ChoiceField(label="Fasting", choices=FASTING_CHOICES, required=False)
    reference_low = number_field("Lab reference low", help_text="Optional, in the unit of the value.")
    reference_high = number_field("Lab reference high", help_text="Optional, in the unit of the value.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["analyte"].widget.attrs["data-unit-source"] = "1"
        self.fields["unit"].widget.attrs["data-unit-target"] = "1"

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "analyte": d.get("analyte", ""),
            "value": d.get("value", ""),
            "unit": d.get("unit", ""),
            "collected_on": d.get("collected_on"),
            "fasting": fasting_value(d.get("fasting", "")),
            "reference_low": d.get("reference_low") or None,
            "reference_high": d.get("reference_high") or None,
        }


class LabEditForm(LabForm, ChangeFields):
    pass


class LabDeleteForm(A11yFormMixin, ChangeFields):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change_reason"].label = "Reason for deletion"


# --- treatment courses ------------------------------------------------------------------


class CourseStartForm(A11yFormMixin, forms.Form):
    drug = forms.ChoiceField(label="Drug", choices=catalogue.DRUG_CHOICES)
    start_date = date_field("Start date")
    dose = number_field("Daily dose", required=True)
    dose_unit = forms.ChoiceField(label="Dose unit", choices=[(u, u) for u in catalogue.DOSE_UNITS])
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DoseChangeForm(A11yFormMixin, forms.Form):
    effective_date = date_field("New dose from")
    dose = number_field("Daily dose", required=True)
    dose_unit = forms.ChoiceField(label="Dose unit", choices=[(u, u) for u in catalogue.DOSE_UNITS])
    reason = forms.CharField(label="Reason", required=False, max_length=200)


class CourseStopForm(A11yFormMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    end_date = date_field("Stop date")
    stop_reason = choice_field("Reason", [("", "-"), *StopReason.choices], required=True)
    tapered = forms.BooleanField(label="Dose was tapered before stopping", required=False)


class CourseEditForm(A11yFormMixin, ChangeFields):
    """A correction of a course: dates, stop reason, taper, notes (reason required)."""

    start_date = date_field("Start date")
    end_date = date_field("End date (blank: ongoing)", required=False)
    stop_reason = choice_field("Stop reason", [("", "-"), *StopReason.choices])
    tapered = forms.BooleanField(label="Dose was tapered before stopping", required=False)
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DoseEditForm(A11yFormMixin, ChangeFields):
    effective_date = date_field("Dose from")
    dose = number_field("Daily dose", required=True)
    dose_unit = forms.ChoiceField(label="Dose unit", choices=[(u, u) for u in catalogue.DOSE_UNITS])
    reason = forms.CharField(label="Note on the dose", required=False, max_length=200)


class RecordDeleteForm(A11yFormMixin, ChangeFields):
    """Deleting a course or dose entered in error: the version and the reason."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change_reason"].label = "Reason for deletion"


def error_list(*forms_or_formsets, row_names: dict | None = None) -> list[tuple[str, str]]:
    """(input id, "Label: message") for the error summary at the top of a page."""
    out: list[tuple[str, str]] = []

    def one(form, where: str = "") -> None:
        errors = form.errors or {}
        for name in ["__all__", *form.fields, *(k for k in errors if k not in form.fields and k != "__all__")]:
            for e in errors.get(name, ()):
                if name == "__all__" or name not in form.fields:
                    out.append(("", f"{where}{e}"))
                else:
                    out.append((form[name].auto_id, f"{where}{form.fields[name].label}: {e}"))

    for item in forms_or_formsets:
        subforms = getattr(item, "forms", None)
        if subforms is None:
            one(item)
            continue
        for e in item.non_form_errors():
            out.append(("", str(e)))
        label = (row_names or {}).get(item.prefix, item.prefix)
        for i, sub in enumerate(subforms, start=1):
            one(sub, f"{label} row {i}, ")
    return out


class LabFilterForm(A11yFormMixin, forms.Form):
    """Filters of a patient's lab results page (GET)."""

    analyte = forms.ChoiceField(
        label="Analyte", choices=[("", "All analytes")] + catalogue.ANALYTE_CHOICES, required=False
    )
    date_from = date_field("Collected from", required=False)
    date_to = date_field("Collected until", required=False)

    def clean(self):
        d = super().clean()
        start, end = d.get("date_from"), d.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end of the range is before its start.")
        return d
