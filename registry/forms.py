"""Form shapes for the registry screens: registration, genetic findings, profile. The
rules (duplicate MRN, HGVS syntax, dates) live in ``registry.services`` and the
validators; their field-keyed errors come back next to the inputs."""

from __future__ import annotations

from django import forms
from django.forms import formset_factory

from clinical import catalogue
from clinical.forms import A11yFormMixin, date_field
from registry import normalize
from registry.models import AcmgClass, DiagnosisBasis, Sex, User, Zygosity


def subtype_label(s: catalogue.Subtype) -> str:
    codes = [c for c in (f"ORPHA:{s.orpha}" if s.orpha else "", f"OMIM:{s.omim}" if s.omim else "", s.mondo) if c]
    return f"{s.name}" + (f" ({', '.join(codes)})" if codes else "")


def subtype_choices() -> list:
    groups: dict[str, list[tuple[str, str]]] = {}
    for s in catalogue.SUBTYPES.values():
        groups.setdefault(catalogue.SUBTYPE_GROUPS[s.group], []).append((s.code, subtype_label(s)))
    return [("", "- not yet diagnosed -"), *groups.items()]


CONSENT_CHOICES = [("", "Not recorded yet"), ("yes", "Yes: research use allowed"), ("no", "No research use")]


class PatientRegisterForm(A11yFormMixin, forms.Form):
    family_name = forms.CharField(label="Family name", max_length=120, required=False)
    given_name = forms.CharField(label="Given name", max_length=120, required=False)
    birth_date = date_field("Date of birth")
    sex = forms.ChoiceField(label="Sex at birth", choices=[("", "-"), *Sex.choices], required=False)
    site = forms.ModelChoiceField(label="Site", queryset=None, empty_label=None)  # type: ignore[arg-type]
    mrn = forms.CharField(label="MRN", max_length=40, required=False, help_text="Medical record number at the site.")
    phone = forms.CharField(label="Phone", max_length=40, required=False)
    email = forms.EmailField(label="Email", required=False)
    subtype = forms.ChoiceField(label="Diagnosis subtype", choices=subtype_choices, required=False)
    diagnosis_basis = forms.ChoiceField(label="Basis", choices=DiagnosisBasis.choices, initial=DiagnosisBasis.CLINICAL)
    onset_date = date_field("Onset date", required=False)
    diagnosis_date = date_field("Diagnosis date", required=False)
    research_consent = forms.ChoiceField(label="Research consent", choices=CONSENT_CHOICES, required=False)
    consent_version = forms.CharField(label="Consent form version", max_length=20, required=False)
    consented_on = date_field("Consent date", required=False)

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("family_name", "given_name", "sex", "mrn"):
            self.fields[name].widget.attrs["required"] = True  # checked by the service
        self.fields["site"].queryset = sites
        self.fields["site"].to_field_name = "code"

    # Identifier and name hygiene (registry.normalize), as a field error next to the field.
    def clean_family_name(self) -> str:
        return normalize.clean_name(self.cleaned_data.get("family_name"), label="family name")

    def clean_given_name(self) -> str:
        return normalize.clean_name(self.cleaned_data.get("given_name"), label="given name")

    def clean_mrn(self) -> str:
        return normalize.clean_mrn(self.cleaned_data.get("mrn"))

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        consent = {"yes": True, "no": False}.get(d.get("research_consent") or "")
        return {
            "site": d["site"],
            "sex": d.get("sex") or "",
            "birth_date": d.get("birth_date"),
            "family_name": d.get("family_name", ""),
            "given_name": d.get("given_name", ""),
            "mrn": d.get("mrn", ""),
            "phone": d.get("phone", ""),
            "email": d.get("email", ""),
            "subtype": d.get("subtype") or "",
            "diagnosis_basis": d.get("diagnosis_basis") or DiagnosisBasis.CLINICAL,
            "onset_date": d.get("onset_date"),
            "diagnosis_date": d.get("diagnosis_date"),
            "research_consent": consent,
            "consent_version": d.get("consent_version", "") if consent is not None else "",
            "consented_on": d.get("consented_on") if consent is not None else None,
        }


class GeneticRowForm(A11yFormMixin, forms.Form):
    gene = forms.CharField(
        label="Gene (HGNC)", max_length=20, required=False, widget=forms.TextInput(attrs={"placeholder": "LMNA"})
    )
    transcript = forms.CharField(
        label="Transcript", max_length=30, required=False, widget=forms.TextInput(attrs={"placeholder": "NM_170707.4"})
    )
    hgvs_c = forms.CharField(
        label="HGVS c.", max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "c.1444C>T"})
    )
    hgvs_p = forms.CharField(
        label="HGVS p.", max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "p.(Arg482Trp)"})
    )
    zygosity = forms.ChoiceField(label="Zygosity", choices=Zygosity.choices, initial=Zygosity.UNKNOWN)
    acmg_class = forms.ChoiceField(label="ACMG class", choices=AcmgClass.choices, initial=AcmgClass.VUS)

    def is_blank(self) -> bool:
        d = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not any((d.get(k) or "").strip() for k in ("gene", "transcript", "hgvs_c", "hgvs_p"))


GeneticFormSet = formset_factory(GeneticRowForm, extra=1, max_num=20, validate_max=True)


class ProfileForm(A11yFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ["unit_system"]
        labels = {"unit_system": "Units for lab values"}
        widgets = {"unit_system": forms.RadioSelect}


# --- additions to a registered patient's record (from the chart) -------------------------


class DiagnosisForm(A11yFormMixin, forms.Form):
    subtype = forms.ChoiceField(label="Subtype", choices=subtype_choices, required=False)
    basis = forms.ChoiceField(
        label="Basis", choices=DiagnosisBasis.choices, initial=DiagnosisBasis.CLINICAL, required=False
    )
    onset_date = date_field("Onset date", required=False)
    diagnosis_date = date_field("Diagnosis date", required=False)
    notes = forms.CharField(label="Notes", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subtype"].widget.attrs["required"] = True  # checked by the service

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "subtype": d.get("subtype") or "",
            "basis": d.get("basis") or DiagnosisBasis.CLINICAL,
            "onset_date": d.get("onset_date"),
            "diagnosis_date": d.get("diagnosis_date"),
            "notes": d.get("notes", ""),
        }


class GeneticFindingForm(GeneticRowForm):
    reported_on = date_field("Report date", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("gene", "hgvs_c"):
            self.fields[name].widget.attrs["required"] = True  # checked by the service

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {k: d.get(k) or "" for k in ("gene", "transcript", "hgvs_c", "hgvs_p", "zygosity", "acmg_class")} | {
            "reported_on": d.get("reported_on")
        }


class ConsentForm(A11yFormMixin, forms.Form):
    research_use = forms.ChoiceField(
        label="Research use", choices=[("yes", "Yes: research use allowed"), ("no", "No research use")]
    )
    version = forms.CharField(label="Consent form version", max_length=20, required=False)
    consented_on = date_field("Consent date")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].widget.attrs["required"] = True  # checked by the service

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "research_use": d.get("research_use") == "yes",
            "version": (d.get("version") or "").strip(),
            "consented_on": d.get("consented_on"),
        }


class ConsentWithdrawForm(A11yFormMixin, forms.Form):
    withdrawn_on = date_field("Withdrawal date")


class PhenotypeForm(A11yFormMixin, forms.Form):
    hpo_id = forms.CharField(
        label="HPO finding",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"list": "hpo-terms", "autocomplete": "off", "placeholder": "type to search", "required": True}
        ),
    )
    status = forms.ChoiceField(label="Status", choices=[("present", "Present"), ("excluded", "Excluded")])
    observed_on = date_field("Observed on")
