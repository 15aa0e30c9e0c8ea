"""The clinical record over time and what is computed from it.

Writes go through ``clinical.services``; reads through ``clinical.selectors``; the patient
scope through ``registry.access``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import DateField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import TruncDate

from clinical import catalogue, formatting
from registry.models import Patient, Site


class Source(models.TextChoices):
    FORM = "form", "Form"
    API = "api", "API"
    IMPORT = "import", "Import"
    DEMO = "demo", "Demo data"


class LiverUltrasound(models.TextChoices):
    NOT_DONE = "", "Not done"
    NORMAL = "normal", "Normal"
    MILD = "mild_steatosis", "Mild steatosis"
    MODERATE = "moderate_steatosis", "Moderate steatosis"
    SEVERE = "severe_steatosis", "Severe steatosis"


class InjectionSiteFinding(models.TextChoices):
    NOT_EXAMINED = "", "Not examined"
    NORMAL = "normal", "Normal"
    LIPOHYPERTROPHY = "lipohypertrophy", "Lipohypertrophy"
    LIPOATROPHY = "lipoatrophy", "Lipoatrophy"
    BOTH = "both", "Lipohypertrophy and lipoatrophy"


def _positive(name: str, field: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0}), name=name)


def _non_negative(name: str, field: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0}), name=name)


class Visit(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    visit_date = models.DateField()
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    waist_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    hip_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    systolic_bp = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_bp = models.PositiveSmallIntegerField(null=True, blank=True)
    # DXA regional fat, percent of regional mass.
    dxa_total_fat_pct = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    dxa_trunk_fat_pct = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    dxa_leg_fat_pct = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    dxa_arm_fat_pct = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    # Liver imaging.
    liver_ultrasound = models.CharField(max_length=24, choices=LiverUltrasound.choices, blank=True)
    liver_pdff_pct = models.DecimalField("MRI-PDFF (%)", max_digits=4, decimal_places=1, null=True, blank=True)
    liver_stiffness_kpa = models.DecimalField(
        "Liver stiffness (kPa)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    liver_cap_dbm = models.PositiveSmallIntegerField("CAP (dB/m)", null=True, blank=True)
    # Injection-site examination (insulin / metreleptin sites).
    injection_site_finding = models.CharField(max_length=20, choices=InjectionSiteFinding.choices, blank=True)
    injection_site_notes = models.CharField(max_length=500, blank=True)
    rotation_education_given = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.FORM)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-visit_date", "-id"]
        indexes = [models.Index(fields=["patient", "visit_date"], name="visit_patient_date_idx")]
        constraints = [
            _positive("visit_weight_positive", "weight_kg"),
            _positive("visit_height_positive", "height_cm"),
            _positive("visit_waist_positive", "waist_cm"),
            _positive("visit_hip_positive", "hip_cm"),
            _non_negative("visit_total_fat_nonneg", "dxa_total_fat_pct"),
            _non_negative("visit_trunk_fat_nonneg", "dxa_trunk_fat_pct"),
            _non_negative("visit_leg_fat_nonneg", "dxa_leg_fat_pct"),
            _non_negative("visit_arm_fat_nonneg", "dxa_arm_fat_pct"),
            _non_negative("visit_pdff_nonneg", "liver_pdff_pct"),
            _non_negative("visit_lsm_nonneg", "liver_stiffness_kpa"),
            models.CheckConstraint(
                condition=Q(systolic_bp__isnull=True)
                | Q(diastolic_bp__isnull=True)
                | Q(systolic_bp__gt=F("diastolic_bp")),
                name="visit_systolic_above_diastolic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} visit {self.visit_date}"

    @property
    def bmi(self):
        if self.weight_kg and self.height_cm:
            m = self.height_cm / 100
            return formatting.round_half_up(self.weight_kg / (m * m), 1)
        return None

    @property
    def waist_hip_ratio(self):
        if self.waist_cm and self.hip_cm:
            return formatting.round_half_up(self.waist_cm / self.hip_cm, 2)
        return None


class Skinfold(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="skinfolds")
    site = models.CharField(max_length=20, choices=catalogue.SKINFOLD_SITES)
    mm = models.DecimalField(max_digits=4, decimal_places=1)

    class Meta:
        ordering = ["site"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "site"], name="skinfold_unique_visit_site"),
            models.CheckConstraint(condition=Q(mm__gte=0), name="skinfold_mm_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.mm} mm"


class LabResult(models.Model):
    """A lab value exactly as reported, plus its value in the analyte's canonical unit."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lab_results")
    visit = models.ForeignKey(Visit, on_delete=models.SET_NULL, null=True, blank=True, related_name="lab_results")
    analyte = models.CharField(max_length=32, choices=catalogue.ANALYTE_CHOICES)
    value = models.DecimalField(max_digits=18, decimal_places=6)
    unit = models.CharField(max_length=20)
    canonical_value = models.DecimalField(max_digits=24, decimal_places=10)
    collected_on = models.DateField()
    fasting = models.BooleanField(null=True, blank=True)
    reference_low = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.FORM)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-collected_on", "-id"]
        indexes = [
            models.Index(fields=["patient", "analyte", "collected_on"], name="lab_patient_analyte_date_idx"),
            models.Index(fields=["analyte", "collected_on"], name="lab_analyte_date_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="lab_value_nonneg"),
            models.CheckConstraint(condition=Q(canonical_value__gte=0), name="lab_canonical_nonneg"),
            models.CheckConstraint(
                condition=Q(reference_low__isnull=True)
                | Q(reference_high__isnull=True)
                | Q(reference_high__gte=F("reference_low")),
                name="lab_reference_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.analyte} {self.value} {self.unit} {self.collected_on}"


class StopReason(models.TextChoices):
    INEFFECTIVE = "ineffective", "Ineffective"
    ADVERSE_EVENT = "adverse_event", "Adverse event"
    PATIENT_CHOICE = "patient_choice", "Patient choice"
    ACCESS = "access", "Drug access / reimbursement"
    PREGNANCY = "pregnancy", "Pregnancy"
    TAPER_COMPLETED = "taper_completed", "Planned stop (taper completed)"
    SWITCHED = "switched", "Switched to another drug"
    DIED = "died", "Patient died"
    OTHER = "other", "Other"


class CourseQuerySet(models.QuerySet):
    def active_on(self, day) -> CourseQuerySet:
        """Courses running on ``day``: the query form of ``records.course_active_on``
        (start and end date included; no end date: ongoing)."""
        return self.filter(start_date__lte=day).filter(Q(end_date__isnull=True) | Q(end_date__gte=day))


class TreatmentCourse(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="treatment_courses")
    drug = models.CharField(max_length=32, choices=catalogue.DRUG_CHOICES)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)
    tapered = models.BooleanField(default=False, help_text="Dose tapered before stopping")
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.FORM)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "-id"]
        indexes = [models.Index(fields=["patient", "drug", "start_date"], name="course_patient_drug_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="course_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=False) | Q(stop_reason=""), name="course_stop_reason_needs_end"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.drug} from {self.start_date}"


class DoseChange(models.Model):
    """One step of a course's dose history: the daily dose from ``effective_date`` on."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    course = models.ForeignKey(TreatmentCourse, on_delete=models.CASCADE, related_name="doses")
    effective_date = models.DateField()
    dose = models.DecimalField(max_digits=10, decimal_places=3)
    dose_unit = models.CharField(max_length=16)
    reason = models.CharField(max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1)  # optimistic concurrency of corrections
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["effective_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "effective_date"], name="dose_unique_course_date"),
            models.CheckConstraint(condition=Q(dose__gte=0), name="dose_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.dose} {self.dose_unit} from {self.effective_date}"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    # The rule, replayed over the corrected record, no longer finds the alert (RULES.md 5).
    WITHDRAWN = "withdrawn", "Withdrawn"


def alert_historic_q() -> Q:
    """Alerts whose evidence is more than HISTORIC_EVIDENCE_DAYS older than the day they
    were raised (the database form of ``clinical.historic.is_historic``)."""
    cutoff = ExpressionWrapper(
        TruncDate("created_at") - Value(dt.timedelta(days=catalogue.HISTORIC_EVIDENCE_DAYS)),
        output_field=DateField(),
    )
    return Q(observed_on__lt=cutoff)


class Alert(models.Model):
    """A clinical alert; unique per (patient, rule, subject) so re-evaluation never duplicates."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=40)
    subject_key = models.CharField(max_length=80, help_text="What the alert is about, e.g. lab:<uuid>")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField(default=2)  # 0 critical .. 2 info, for ordering
    status = models.CharField(max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.TextField()
    params = models.JSONField(default=dict, blank=True)  # values to render the message in any unit system
    lab_result = models.ForeignKey(LabResult, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    course = models.ForeignKey(TreatmentCourse, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    dose_change = models.ForeignKey(DoseChange, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    visit = models.ForeignKey(Visit, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    # The date of the evidence (lab collected, course start, dose effective, visit date; for
    # a state rule the day the condition began), set by clinical.evaluation on every upsert.
    observed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledge_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Withdrawal keeps the row and says why (the correction or deletion behind it).
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["severity_rank", "-observed_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "rule", "subject_key"], name="alert_unique_patient_rule_subject"
            ),
        ]
        indexes = [
            # The worklist: open alerts by severity, then evidence date newest first.
            models.Index(fields=["status", "severity_rank", "-observed_on", "-id"], name="alert_worklist_observed_idx"),
            models.Index(fields=["patient", "status"], name="alert_patient_status_idx"),
            # Counts over many patients' alerts (the cohort's open alerts by month) read only
            # this index, never the wide rows (message, params): an index-only scan.
            models.Index(
                fields=["status", "patient"],
                include=["severity", "observed_on", "created_at", "resolved_at", "acknowledged_at", "updated_at"],
                name="alert_status_cover_idx",
            ),
            # The header's counts on every page: the open alerts that are not historic, and
            # only those. The condition is the queries' own (alert_historic_q, the same SQL)
            # so that PostgreSQL can prove the index answers them.
            models.Index(
                fields=["patient"],
                include=["severity"],
                condition=Q(status="open") & ~alert_historic_q(),
                name="alert_open_current_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.patient} ({self.status})"


class TrendSnapshot(models.Model):
    """Trend of one analyte for one patient (RULES.md section 3), in canonical units.

    Baseline and month-m values refer to ``course`` (the latest metreleptin course) when
    there is one. Kept in line with the record by each evaluation: a row is written only
    when its values change (``computed_at``: when these values were computed; the
    patient's ``evaluated_at`` says when they were last confirmed), deleted when its
    analyte has no result left.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="trend_snapshots")
    analyte = models.CharField(max_length=32, choices=catalogue.ANALYTE_CHOICES)
    course = models.ForeignKey(TreatmentCourse, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    n_values = models.PositiveIntegerField(default=0)
    latest_value = models.FloatField(null=True, blank=True)
    latest_on = models.DateField(null=True, blank=True)
    baseline_value = models.FloatField(null=True, blank=True)
    baseline_on = models.DateField(null=True, blank=True)
    nadir_value = models.FloatField(null=True, blank=True)
    nadir_on = models.DateField(null=True, blank=True)
    slope_per_year = models.FloatField(null=True, blank=True)
    # {"3": {"value": .., "on": "..", "change": .., "percent_change": ..}, "6": .., "12": ..}
    months = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "analyte"], name="trend_unique_patient_analyte")]

    def __str__(self) -> str:
        return f"{self.patient} {self.analyte} trend"


class ResponseClass(models.TextChoices):
    STRONG = "strong_responder", "Strong responder"
    RESPONDER = "responder", "Responder"
    NON_RESPONDER = "non_responder", "Non-responder"
    INSUFFICIENT = "insufficient_data", "Insufficient data"


class CourseResponse(models.Model):
    """Month-12 metreleptin response of one course (RULES.md section 3)."""

    course = models.OneToOneField(TreatmentCourse, on_delete=models.CASCADE, related_name="response")
    response_class = models.CharField(max_length=20, choices=ResponseClass.choices)
    hba1c_change = models.FloatField(null=True, blank=True)
    tg_percent_change = models.FloatField(null=True, blank=True)
    # True until the month-12 window has closed (start + 425 days passed, or the course
    # ended): a late month-12 value can still change the class (RULES.md section 3).
    provisional = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.course} {self.response_class}"


class LabImport(models.Model):
    """An uploaded lab CSV between preview and confirm; confirm imports all rows or none."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        IMPORTED = "imported", "Imported"
        REJECTED = "rejected", "Rejected (errors)"
        DISCARDED = "discarded", "Discarded"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    encoding = models.CharField(max_length=20, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEWED)
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    imported_count = models.PositiveIntegerField(default=0)
    # Once confirmed (or left unconfirmed too long) the file's content is purged; what is
    # kept of the row report is line numbers and messages, never the values.
    report = models.JSONField(default=list, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    # The rows as read and checked at upload (clinical.import_plans), so that the preview
    # page and confirm do not read the file again; purged with the content.
    plan = models.BinaryField(default=b"", blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
