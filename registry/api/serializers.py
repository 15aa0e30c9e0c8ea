"""Registry-side API serializers: input shape only (the services hold the rules) and
explicit output fields (identity only for clinical roles)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical import catalogue
from registry import access
from registry.api.fields import IdentityTextField
from registry.api.free_text import FreeTextMixin
from registry.models import AcmgClass, DiagnosisBasis, Sex, VitalStatus, Zygosity

IDENTITY_FIELDS = ("family_name", "given_name", "birth_date", "mrn", "phone", "email")


# Declared as a number; a number typed as text is also read, by the one parser of
# clinical.services.numbers under the rules of a form (RULES.md 5: decimal comma accepted,
# ambiguous text refused with what to type instead). The schema says so in words and in an
# extension rather than as a oneOf number/string, which schemathesis' generator cannot take.
@extend_schema_field(
    {
        "type": "number",
        "description": (
            "A JSON number. A number written as text is also accepted and read under the rules "
            "of the forms (decimal comma accepted; ambiguous text such as '1,250' is a 400)."
        ),
        "x-accepts-numeric-string": True,
    }
)
class NumberField(serializers.Field):
    """A number passed to the service as it came: a JSON number stays a number (it is
    unambiguous), a numeric string stays text that the one number parser reads under the
    same rules as a form (``clinical.services.numbers``)."""

    default_error_messages = {"invalid": "A number is required."}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float, str, Decimal)):
            self.fail("invalid")
        if not isinstance(data, str):
            return data
        text = data.strip()
        if len(text) > 40:
            self.fail("invalid")
        return text

    def to_representation(self, value):
        return None if value is None else float(value)


def _json_type_error(field: serializers.Field, value) -> str | None:
    """DRF coerces (``0`` into ``"0"``, ``"true"`` into True, ``"5"`` into 5); the API
    takes JSON types as the schema declares them."""
    if value is None:
        return None  # allow_null is the field's own check
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Not a valid string."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, NumberField) and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
        return "A number is required (a JSON number, or a number as text)."
    if isinstance(field, serializers.IntegerField) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "A number is required."
    return None


def strict_types(serializer: serializers.Serializer, data) -> None:
    if not isinstance(data, dict):
        return
    errors = {}
    for name, field in serializer.fields.items():
        if name in data and not field.read_only:
            message = _json_type_error(field, data[name])
            if message:
                errors[name] = [message]
    if errors:
        raise serializers.ValidationError(errors)


def strict_keys(serializer: serializers.Serializer, data) -> None:
    """Refuse keys the serializer does not accept (read-only or unknown fields)."""
    if not isinstance(data, dict):
        return
    writable = {name for name, f in serializer.fields.items() if not f.read_only}
    extra = sorted(set(data) - writable)
    if extra:
        raise serializers.ValidationError({k: ["This field is read-only or unknown."] for k in extra})


class StrictSerializer(serializers.Serializer):
    refuses_unknown_keys = True  # OpenAPI: additionalProperties false
    # Fields the server requires in a PATCH as well (OpenAPI: required in Patched*).
    patch_required: tuple[str, ...] = ()

    def to_internal_value(self, data):
        strict_keys(self, data)
        strict_types(self, data)
        return super().to_internal_value(data)


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


class SiteSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField()
    role = serializers.SerializerMethodField()

    def get_role(self, site) -> str:
        return access.role_at(self.context["request"].user, site) or ""


class PatientSerializer(serializers.Serializer):
    """A patient. Identity fields appear only for clinical roles at the patient's site."""

    id = serializers.UUIDField(source="public_id")
    registry_code = serializers.CharField()
    site = serializers.CharField(source="home_site.code")
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_year = serializers.IntegerField(allow_null=True)
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices)
    subtype = serializers.CharField(source="primary_subtype", allow_blank=True)
    research_consent = serializers.BooleanField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    family_name = serializers.CharField(source="identity.family_name", required=False)
    given_name = serializers.CharField(source="identity.given_name", required=False)
    birth_date = serializers.DateField(source="identity.birth_date", required=False)
    mrn = serializers.CharField(source="identity.mrn", required=False)
    phone = serializers.CharField(source="identity.phone", required=False, allow_blank=True)
    email = serializers.CharField(source="identity.email", required=False, allow_blank=True)

    def to_representation(self, patient):
        user = self.context["request"].user
        show = access.can_see_identity(user, patient)
        if not show:
            fields = self.fields
            data = {}
            for name, field in fields.items():
                if name in IDENTITY_FIELDS:
                    continue
                attribute = field.get_attribute(patient)
                data[name] = None if attribute is None else field.to_representation(attribute)
            return data
        return super().to_representation(patient)


class DiagnosisSerializer(FreeTextMixin, serializers.Serializer):
    free_text_fields = ("notes",)

    id = serializers.UUIDField(source="public_id")
    subtype = serializers.CharField()
    subtype_name = serializers.SerializerMethodField()
    basis = serializers.CharField()
    onset_date = serializers.DateField(allow_null=True)
    diagnosis_date = serializers.DateField(allow_null=True)
    notes = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    created_at = serializers.DateTimeField()

    def get_subtype_name(self, dx) -> str:
        info = catalogue.SUBTYPES.get(dx.subtype)
        return info.name if info else dx.subtype


class GeneticFindingSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    gene = serializers.CharField()
    transcript = serializers.CharField(allow_blank=True)
    hgvs_c = serializers.CharField()
    hgvs_p = serializers.CharField(allow_blank=True)
    zygosity = serializers.CharField()
    acmg_class = serializers.CharField()
    reported_on = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()


class PhenotypeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    hpo_id = serializers.CharField()
    label = serializers.CharField()
    excluded = serializers.BooleanField()
    observed_on = serializers.DateField()
    visit = serializers.UUIDField(source="visit.public_id", allow_null=True)


# --------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------


class PatientCreateSerializer(StrictSerializer):
    site = serializers.CharField(max_length=16, help_text="Site code, e.g. SITEA")
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_date = serializers.DateField()
    family_name = IdentityTextField(max_length=120, label_text="family name")
    given_name = IdentityTextField(max_length=120, label_text="given name")
    mrn = IdentityTextField(max_length=40, label_text="MRN")
    subtype = serializers.ChoiceField(choices=catalogue.SUBTYPE_CHOICES, required=False, allow_blank=True)
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices, required=False)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    research_consent = serializers.BooleanField(required=False, allow_null=True, default=None)
    consent_version = serializers.CharField(max_length=20, required=False, allow_blank=True)
    consented_on = serializers.DateField(required=False, allow_null=True)


class PatientUpdateSerializer(StrictSerializer):
    patch_required = ("change_reason",)

    sex = serializers.ChoiceField(choices=Sex.choices)
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices)
    family_name = IdentityTextField(max_length=120, label_text="family name")
    given_name = IdentityTextField(max_length=120, label_text="given name")
    birth_date = serializers.DateField()
    mrn = IdentityTextField(max_length=40, label_text="MRN")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    change_reason = serializers.CharField(max_length=500, help_text="Why the record changes (kept in the audit trail)")


class DiagnosisCreateSerializer(StrictSerializer):
    subtype = serializers.ChoiceField(choices=catalogue.SUBTYPE_CHOICES)
    basis = serializers.ChoiceField(choices=DiagnosisBasis.choices, required=False)
    onset_date = serializers.DateField(required=False, allow_null=True)
    diagnosis_date = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class GeneticFindingCreateSerializer(StrictSerializer):
    gene = serializers.CharField(max_length=20)
    hgvs_c = serializers.CharField(max_length=200)
    hgvs_p = serializers.CharField(max_length=200, required=False, allow_blank=True)
    transcript = serializers.CharField(max_length=30, required=False, allow_blank=True)
    zygosity = serializers.ChoiceField(choices=Zygosity.choices, required=False)
    acmg_class = serializers.ChoiceField(choices=AcmgClass.choices, required=False)
    reported_on = serializers.DateField(required=False, allow_null=True)


# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


class RangeSerializer(serializers.Serializer):
    low = NumberField()
    high = NumberField()


class AnalyteSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    loinc = serializers.ListField(child=serializers.CharField())
    loinc_si = serializers.ListField(child=serializers.CharField())
    canonical_unit = serializers.CharField()
    accepted_units = serializers.ListField(child=serializers.CharField())
    conventional_unit = serializers.CharField()
    si_unit = serializers.CharField()
    hard_limits = RangeSerializer()

    def to_representation(self, a: catalogue.Analyte):
        return {
            "code": a.code,
            "name": a.name,
            "loinc": list(a.loinc),
            "loinc_si": list(a.loinc_si),
            "canonical_unit": a.canonical_unit,
            "accepted_units": list(a.accepted_units),
            "conventional_unit": a.display_unit(catalogue.CONVENTIONAL).unit,
            "si_unit": a.display_unit(catalogue.SI).unit,
            "hard_limits": {
                "low": None if a.hard_limits.low is None else float(a.hard_limits.low),
                "high": None if a.hard_limits.high is None else float(a.hard_limits.high),
            },
        }


class DrugSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    drug_class = serializers.CharField()
    dose_units = serializers.ListField(child=serializers.CharField(), source="units")
    hypoglycemia_risk = serializers.BooleanField()
    contraindicated = serializers.BooleanField()


class SubtypeSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    group = serializers.CharField()
    pattern = serializers.CharField()
    acquired = serializers.BooleanField()
    genes = serializers.ListField(child=serializers.CharField())
    orpha = serializers.CharField(allow_blank=True)
    omim = serializers.CharField(allow_blank=True)
    mondo = serializers.CharField(allow_blank=True)
    icd10 = serializers.CharField(allow_blank=True)
