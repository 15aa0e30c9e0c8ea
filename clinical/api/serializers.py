"""Clinical API serializers: input shape only (``clinical.services`` validates), explicit
output fields. Lab values come back as reported plus canonical; ``?units=`` adds the
display value in that unit system."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical import catalogue, flags, formatting
from clinical.alerts import render_alert_message
from clinical.historic import alert_is_historic
from clinical.models import InjectionSiteFinding, LiverUltrasound, StopReason
from registry.api.free_text import FreeTextMixin
from registry.api.serializers import NumberField, StrictSerializer

# --------------------------------------------------------------------------------------
# Query strings
# --------------------------------------------------------------------------------------


class UnitsQuerySerializer(serializers.Serializer):
    units = serializers.ChoiceField(choices=list(catalogue.UNIT_SYSTEMS), required=False)


class LabQuerySerializer(UnitsQuerySerializer):
    analyte = serializers.ChoiceField(choices=list(catalogue.ANALYTES), required=False)
    from_date = serializers.DateField(required=False)
    to_date = serializers.DateField(required=False)
    ordering = serializers.ChoiceField(choices=["collected_on", "-collected_on"], required=False)


class AlertQuerySerializer(UnitsQuerySerializer):
    status = serializers.ChoiceField(
        choices=["open", "acknowledged", "resolved", "withdrawn", "all"],
        required=False,
        help_text="Default: every status but withdrawn; 'withdrawn' or 'all' to see withdrawn alerts",
    )


# --------------------------------------------------------------------------------------
# Labs
# --------------------------------------------------------------------------------------


class LabResultSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    analyte = serializers.CharField()
    value = NumberField(help_text="As reported")
    unit = serializers.CharField(help_text="As reported")
    canonical_value = NumberField()
    canonical_unit = serializers.SerializerMethodField()
    display_value = serializers.CharField(
        required=False, help_text="Only with ?units=si|conventional: the value in that system"
    )
    display_unit = serializers.CharField(required=False)
    flag = serializers.SerializerMethodField(help_text="L, H, critical or empty")
    collected_on = serializers.DateField()
    fasting = serializers.BooleanField(allow_null=True)
    reference_low = NumberField()
    reference_high = NumberField()
    visit = serializers.SerializerMethodField()
    source = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_canonical_unit(self, lab) -> str:
        return catalogue.ANALYTES[lab.analyte].canonical_unit

    def get_flag(self, lab) -> str:
        return flags.lab_flag(
            analyte=lab.analyte,
            canonical=lab.canonical_value,
            sex=lab.patient.sex,
            fasting=lab.fasting,
            unit=lab.unit,
            reference_low=lab.reference_low,
            reference_high=lab.reference_high,
        )

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_visit(self, lab):
        return str(lab.visit.public_id) if lab.visit_id else None

    def to_representation(self, lab):
        data = super().to_representation(lab)
        system = self.context.get("units")
        if system:
            data["display_value"], data["display_unit"] = formatting.to_display(
                lab.canonical_value, analyte=lab.analyte, system=system
            )
        else:
            data.pop("display_value", None)
            data.pop("display_unit", None)
        return data


class LabCreateSerializer(StrictSerializer):
    analyte = serializers.CharField(max_length=32, help_text="Catalogue code, e.g. triglycerides")
    value = NumberField(allow_null=False)
    unit = serializers.CharField(max_length=20)
    collected_on = serializers.DateField()
    fasting = serializers.BooleanField(required=False, allow_null=True, default=None)
    reference_low = NumberField(required=False)
    reference_high = NumberField(required=False)
    confirm_unusual = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Confirm a unit-suspect value as entered (otherwise 400 with code unit_suspect)",
    )


class LabUpdateSerializer(StrictSerializer):
    patch_required = ("change_reason",)

    analyte = serializers.CharField(max_length=32)
    value = NumberField(allow_null=False)
    unit = serializers.CharField(max_length=20)
    collected_on = serializers.DateField()
    fasting = serializers.BooleanField(required=False, allow_null=True)
    reference_low = NumberField(required=False)
    reference_high = NumberField(required=False)
    change_reason = serializers.CharField(max_length=500)
    confirm_unusual = serializers.BooleanField(
        required=False,
        help_text="Confirm a unit-suspect value as entered (otherwise 400 with code unit_suspect)",
    )


# --------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------


class VisitSerializer(FreeTextMixin, serializers.Serializer):
    free_text_fields = ("injection_site_notes", "notes")

    id = serializers.UUIDField(source="public_id")
    visit_date = serializers.DateField()
    site = serializers.CharField(source="site.code")
    weight_kg = NumberField()
    height_cm = NumberField()
    bmi = NumberField()
    waist_cm = NumberField()
    hip_cm = NumberField()
    systolic_bp = serializers.IntegerField(allow_null=True)
    diastolic_bp = serializers.IntegerField(allow_null=True)
    dxa_total_fat_pct = NumberField()
    dxa_trunk_fat_pct = NumberField()
    dxa_leg_fat_pct = NumberField()
    dxa_arm_fat_pct = NumberField()
    liver_ultrasound = serializers.CharField(allow_blank=True)
    liver_pdff_pct = NumberField()
    liver_stiffness_kpa = NumberField()
    liver_cap_dbm = serializers.IntegerField(allow_null=True)
    injection_site_finding = serializers.CharField(allow_blank=True)
    injection_site_notes = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    rotation_education_given = serializers.BooleanField()
    notes = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    source = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class VisitLabSerializer(StrictSerializer):
    analyte = serializers.CharField(max_length=32)
    value = NumberField(allow_null=False)
    unit = serializers.CharField(max_length=20)
    collected_on = serializers.DateField(required=False, allow_null=True)
    fasting = serializers.BooleanField(required=False, allow_null=True, default=None)
    reference_low = NumberField(required=False)
    reference_high = NumberField(required=False)
    confirm_unusual = serializers.BooleanField(
        required=False, default=False, help_text="Confirm a unit-suspect value as entered"
    )


class _VisitFields(StrictSerializer):
    visit_date = serializers.DateField()
    weight_kg = NumberField(required=False)
    height_cm = NumberField(required=False)
    waist_cm = NumberField(required=False)
    hip_cm = NumberField(required=False)
    systolic_bp = NumberField(required=False)
    diastolic_bp = NumberField(required=False)
    dxa_total_fat_pct = NumberField(required=False)
    dxa_trunk_fat_pct = NumberField(required=False)
    dxa_leg_fat_pct = NumberField(required=False)
    dxa_arm_fat_pct = NumberField(required=False)
    liver_ultrasound = serializers.ChoiceField(choices=LiverUltrasound.choices, required=False, allow_blank=True)
    liver_pdff_pct = NumberField(required=False)
    liver_stiffness_kpa = NumberField(required=False)
    liver_cap_dbm = NumberField(required=False)
    injection_site_finding = serializers.ChoiceField(
        choices=InjectionSiteFinding.choices, required=False, allow_blank=True
    )
    injection_site_notes = serializers.CharField(max_length=500, required=False, allow_blank=True)
    rotation_education_given = serializers.BooleanField(required=False)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class VisitCreateSerializer(_VisitFields):
    labs = VisitLabSerializer(many=True, required=False, help_text="Lab panel drawn at the visit")


class VisitUpdateSerializer(_VisitFields):
    patch_required = ("change_reason",)

    change_reason = serializers.CharField(max_length=500)


# --------------------------------------------------------------------------------------
# Treatments
# --------------------------------------------------------------------------------------


class DoseSerializer(FreeTextMixin, serializers.Serializer):
    free_text_fields = ("reason",)

    id = serializers.UUIDField(source="public_id")
    effective_date = serializers.DateField()
    dose = NumberField()
    dose_unit = serializers.CharField()
    reason = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    warning = serializers.SerializerMethodField(
        help_text="On a write: the server's label-maximum verdict for this dose ('' when within the label)"
    )

    def get_warning(self, dose) -> str:
        return self.context.get("warning", "")


class TreatmentSerializer(FreeTextMixin, serializers.Serializer):
    free_text_fields = ("notes",)

    id = serializers.UUIDField(source="public_id")
    drug = serializers.CharField()
    drug_name = serializers.SerializerMethodField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    stop_reason = serializers.CharField(allow_blank=True)
    tapered = serializers.BooleanField()
    notes = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    dose = NumberField(help_text="Current (latest) daily dose")
    dose_unit = serializers.CharField(allow_null=True)
    doses = DoseSerializer(many=True, help_text="Dose history, oldest first")
    source = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    warning = serializers.SerializerMethodField(
        help_text="On a write: the server's label-maximum verdict for the first dose ('' when within the label)"
    )

    def get_warning(self, course) -> str:
        return self.context.get("warning", "")

    def get_drug_name(self, course) -> str:
        return catalogue.DRUGS[course.drug].name if course.drug in catalogue.DRUGS else course.drug

    def to_representation(self, course):
        doses = list(course.doses.all())
        course.dose = doses[-1].dose if doses else None
        course.dose_unit = doses[-1].dose_unit if doses else None
        return super().to_representation(course)


class TreatmentCreateSerializer(StrictSerializer):
    drug = serializers.ChoiceField(choices=catalogue.DRUG_CHOICES)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    stop_reason = serializers.ChoiceField(choices=StopReason.choices, required=False, allow_blank=True)
    dose = NumberField(allow_null=False, help_text="First daily dose")
    dose_unit = serializers.CharField(max_length=16, help_text="e.g. mg/day, U/day")
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class TreatmentStopSerializer(StrictSerializer):
    # The view validates the whole body even for PATCH: these are required there.
    patch_required = ("end_date", "stop_reason", "change_reason")

    end_date = serializers.DateField()
    stop_reason = serializers.ChoiceField(choices=StopReason.choices)
    tapered = serializers.BooleanField(required=False, default=False)
    change_reason = serializers.CharField(max_length=500)


class TreatmentUpdateSerializer(StrictSerializer):
    """A correction of a course (or its stop): any of the fields, with the reason."""

    patch_required = ("change_reason",)

    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False, allow_null=True)
    stop_reason = serializers.ChoiceField(choices=StopReason.choices, required=False, allow_blank=True)
    tapered = serializers.BooleanField(required=False)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    change_reason = serializers.CharField(max_length=500)


class DoseUpdateSerializer(StrictSerializer):
    patch_required = ("change_reason",)

    effective_date = serializers.DateField(required=False)
    dose = NumberField(allow_null=False, required=False)
    dose_unit = serializers.CharField(max_length=16, required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    change_reason = serializers.CharField(max_length=500)


class DoseCreateSerializer(StrictSerializer):
    effective_date = serializers.DateField()
    dose = NumberField(allow_null=False)
    dose_unit = serializers.CharField(max_length=16)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


# --------------------------------------------------------------------------------------
# Alerts and trends
# --------------------------------------------------------------------------------------


class AlertSerializer(FreeTextMixin, serializers.Serializer):
    free_text_fields = ("acknowledge_note",)

    id = serializers.UUIDField(source="public_id")
    rule = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    message = serializers.SerializerMethodField()
    observed_on = serializers.DateField(allow_null=True, help_text="Date of the evidence (e.g. lab collected).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledge_note = serializers.CharField(allow_blank=True, required=False, help_text="Clinical roles only")
    resolved_at = serializers.DateTimeField(allow_null=True)
    historic = serializers.SerializerMethodField(
        help_text="Raised on evidence more than 180 days older than the day it was raised (left out of the worklist)."
    )
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    withdrawn_reason = serializers.CharField(
        allow_blank=True, help_text="Why the replayed rule no longer finds this alert (who, when, the reason given)"
    )
    lab = serializers.SerializerMethodField()
    course = serializers.SerializerMethodField()
    visit = serializers.SerializerMethodField()

    def get_historic(self, alert) -> bool:
        return alert_is_historic(alert)

    def get_message(self, alert) -> str:
        if not alert.params:
            return alert.message
        return render_alert_message(alert.rule, alert.params, self.context.get("units") or catalogue.CONVENTIONAL)

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_lab(self, alert):
        return str(alert.lab_result.public_id) if alert.lab_result_id else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_course(self, alert):
        return str(alert.course.public_id) if alert.course_id else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_visit(self, alert):
        return str(alert.visit.public_id) if alert.visit_id else None


class AlertAcknowledgeSerializer(StrictSerializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def _without_absent_display(data: dict, source: dict) -> dict:
    """``display_*`` fields appear only when ``?units=`` asked for them."""
    for key in [k for k in data if k.startswith("display_") and k not in source]:
        del data[key]
    return data


class MonthValueSerializer(serializers.Serializer):
    month = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    on = serializers.DateField(allow_null=True)
    change = serializers.FloatField(allow_null=True)
    percent_change = serializers.FloatField(allow_null=True)
    display_value = serializers.CharField(required=False, allow_null=True, help_text="Only with ?units=")
    display_change = serializers.CharField(required=False, allow_null=True, help_text="Only with ?units=")

    def to_representation(self, instance):
        return _without_absent_display(super().to_representation(instance), instance)


class AnalyteTrendSerializer(serializers.Serializer):
    analyte = serializers.CharField()
    unit = serializers.CharField(help_text="Canonical unit of every value here")
    course = serializers.UUIDField(allow_null=True, help_text="Metreleptin course the baseline refers to")
    n_values = serializers.IntegerField()
    latest_value = serializers.FloatField(allow_null=True)
    latest_on = serializers.DateField(allow_null=True)
    baseline_value = serializers.FloatField(allow_null=True)
    baseline_on = serializers.DateField(allow_null=True)
    nadir_value = serializers.FloatField(allow_null=True)
    nadir_on = serializers.DateField(allow_null=True)
    slope_per_year = serializers.FloatField(allow_null=True)
    months = MonthValueSerializer(many=True)
    computed_at = serializers.DateTimeField()
    display_unit = serializers.CharField(required=False, help_text="Only with ?units=si|conventional")
    display_latest_value = serializers.CharField(required=False, allow_null=True)
    display_baseline_value = serializers.CharField(required=False, allow_null=True)
    display_nadir_value = serializers.CharField(required=False, allow_null=True)
    display_slope_per_year = serializers.CharField(
        required=False, allow_null=True, help_text="Per year, in the display unit"
    )

    def to_representation(self, instance):
        return _without_absent_display(super().to_representation(instance), instance)


class CourseResponseSerializer(serializers.Serializer):
    course = serializers.UUIDField()
    drug = serializers.CharField()
    start_date = serializers.DateField()
    response_class = serializers.CharField()
    provisional = serializers.BooleanField(
        help_text="True until the month-12 window has closed (start + 425 days, or the course ended): "
        "a late month-12 value can still change the class"
    )
    hba1c_change = serializers.FloatField(allow_null=True)
    tg_percent_change = serializers.FloatField(allow_null=True)
    computed_at = serializers.DateTimeField()


class TrendsSerializer(serializers.Serializer):
    analytes = AnalyteTrendSerializer(many=True)
    courses = CourseResponseSerializer(many=True)


# --------------------------------------------------------------------------------------
# Lab import
# --------------------------------------------------------------------------------------


class ImportRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[("ok", "ok"), ("error", "error")])
    patient = serializers.CharField(allow_blank=True)
    analyte = serializers.CharField(allow_blank=True)
    value = serializers.CharField(allow_blank=True)
    unit = serializers.CharField(allow_blank=True)
    collected_on = serializers.CharField(allow_blank=True)
    errors = serializers.ListField(child=serializers.CharField())
    unit_suspect = serializers.CharField(
        allow_blank=True, help_text="Set when the value looks typed against the wrong unit (confirm_unusual)"
    )


class ImportJobSerializer(serializers.Serializer):
    """The background confirmation of an import (ops.lab_import_jobs)."""

    status = serializers.ChoiceField(choices=[(s, s) for s in ("queued", "running", "done", "failed")])
    percent = serializers.IntegerField(min_value=0, max_value=100)
    phase = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True, help_text="Why nothing was imported, when failed")
    total_rows = serializers.IntegerField()
    imported_rows = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class LabImportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    status = serializers.CharField()
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    row_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    imported_count = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    file_errors = serializers.ListField(child=serializers.CharField())
    unit_suspect_count = serializers.IntegerField(
        required=False, help_text="Rows marked unit_suspect: confirm them all with confirm_unusual"
    )
    rows = ImportRowSerializer(many=True, help_text="Rows with errors (all of them), then the first valid rows")
    job = ImportJobSerializer(required=False, allow_null=True, help_text="The confirmation, once requested")


class LabImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV file (see /imports/labs/template.csv)")
