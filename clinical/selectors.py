"""Reads of the clinical record. Every function takes a user (and scopes through
``registry.access``) or patients already fetched through it."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from clinical import catalogue, flags
from clinical.models import Alert, AlertStatus, DoseChange, LabResult, Severity, TreatmentCourse, Visit
from registry import access
from registry.models import AuditEvent, Patient

LIST_ANALYTES = ("triglycerides", "hba1c")

# sort key in the URL -> ORDER BY; identity sorts are offered to clinical roles only.
SORTS: dict[str, tuple[str, ...]] = {
    "registry_code": ("registry_code",),
    "site": ("home_site__code", "registry_code"),
    "subtype": ("primary_subtype", "registry_code"),
    "sex": ("sex", "registry_code"),
    "birth_year": ("birth_year", "registry_code"),
    "name": ("identity__family_name", "identity__given_name", "registry_code"),
}
IDENTITY_SORTS = {"name"}


@dataclass(frozen=True)
class PatientFilters:
    q: str = ""
    subtype: str = ""
    site: str = ""
    metreleptin: bool = False
    alerts: bool = False
    sort: str = "registry_code"


def on_metreleptin_q(day: dt.date) -> Exists:
    return Exists(
        TreatmentCourse.objects.filter(patient=OuterRef("pk"), drug="metreleptin", start_date__lte=day).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )
    )


def patient_list(*, user, filters: PatientFilters | None = None, search: str = "") -> QuerySet[Patient]:
    """The user's patients, searched, filtered and sorted (not yet paginated)."""
    f = filters or PatientFilters(q=search)
    identity = access.can_see_identity(user)
    qs = access.patients_for_user(user).select_related("home_site")
    if identity:
        qs = qs.select_related("identity")
    q = f.q.strip()
    if q:
        match = Q(registry_code__icontains=q)
        if identity:
            # Names and MRN only match where the user may see identity.
            match |= access.identity_visible_q(user) & (
                Q(identity__family_name__icontains=q)
                | Q(identity__given_name__icontains=q)
                | Q(identity__mrn__iexact=q)
            )
        qs = qs.filter(match)
    if f.subtype:
        qs = qs.filter(primary_subtype=f.subtype)
    if f.site:
        qs = qs.filter(home_site__code=f.site)
    if f.metreleptin:
        qs = qs.filter(on_metreleptin_q(timezone.localdate()))
    if f.alerts:
        qs = qs.filter(Exists(Alert.objects.filter(patient=OuterRef("pk"), status=AlertStatus.OPEN)))
    sort = f.sort or "registry_code"
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS or (key in IDENTITY_SORTS and not identity):
        key, desc = "registry_code", False
    order = [("-" + c) if desc else c for c in SORTS[key]]
    return qs.order_by(*order)


def latest_labs(*, patient_ids, analytes=None) -> dict[tuple[int, str], LabResult]:
    """The latest result per (patient, analyte) for patients already fetched through the
    access layer, in one query (window function, so it works on SQLite and PostgreSQL)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    qs = LabResult.objects.filter(patient_id__in=ids)
    if analytes:
        qs = qs.filter(analyte__in=list(analytes))
    qs = (
        qs.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("patient_id"), F("analyte")],
                order_by=[F("collected_on").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .only(
            "id",
            "public_id",
            "patient_id",
            "analyte",
            "value",
            "unit",
            "canonical_value",
            "collected_on",
            "fasting",
            "reference_low",
            "reference_high",
        )
    )
    return {(r.patient_id, r.analyte): r for r in qs}


@dataclass
class PatientRow:
    patient: Patient
    show_identity: bool
    labs: list[flags.ShownLab | None]
    open_alerts: int = 0
    critical_alerts: int = 0

    @property
    def subtype_text(self) -> str:
        """The subtype code with break opportunities after "_" (narrow screens)."""
        return self.patient.primary_subtype.replace("_", "_\u200b")


def patient_rows(*, user, patients: list[Patient]) -> list[PatientRow]:
    """Decorate one page of patients with their latest TG / HbA1c and open alert counts
    (two queries whatever the page size)."""
    ids = [p.pk for p in patients]
    latest = latest_labs(patient_ids=ids, analytes=LIST_ANALYTES)
    counts: dict[int, dict[str, int]] = {}
    if ids:
        for row in (
            Alert.objects.filter(patient_id__in=ids, status=AlertStatus.OPEN)
            .values("patient_id", "severity")
            .annotate(n=Count("id"))
        ):
            counts.setdefault(row["patient_id"], {})[row["severity"]] = row["n"]
    system = user.unit_system
    rows = []
    for p in patients:
        shown = []
        for code in LIST_ANALYTES:
            r = latest.get((p.pk, code))
            shown.append(flags.show_lab(r, sex=p.sex, system=system) if r else None)
        c = counts.get(p.pk, {})
        rows.append(
            PatientRow(
                patient=p,
                show_identity=access.can_see_identity(user, p),
                labs=shown,
                open_alerts=sum(c.values()),
                critical_alerts=c.get(Severity.CRITICAL, 0),
            )
        )
    return rows


def open_critical_alert_count(*, user) -> int:
    return access.alerts_for_user(user).filter(status=AlertStatus.OPEN, severity=Severity.CRITICAL).count()


# --- patient chart ----------------------------------------------------------------------


def age_years(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass
class DoseRow:
    dose: DoseChange
    until: dt.date | None
    weight_kg: Decimal | None
    per_kg: Decimal | None
    per_kg_unit: str
    ml: Decimal | None
    above_label_max: bool


@dataclass
class CourseRow:
    course: TreatmentCourse
    drug: catalogue.Drug
    doses: list[DoseRow] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.course.end_date is None or self.course.end_date >= timezone.localdate()

    @property
    def current_dose(self) -> DoseRow | None:
        return self.doses[-1] if self.doses else None


def _weight_on(weights: list[tuple[dt.date, Decimal]], day: dt.date) -> Decimal | None:
    """Latest weight on or before ``day`` from (date, kg) pairs sorted by date."""
    i = bisect.bisect_right([d for d, _ in weights], day)
    return weights[i - 1][1] if i else None


def course_rows(*, courses: list[TreatmentCourse], weights: list[tuple[dt.date, Decimal]]) -> list[CourseRow]:
    """Courses with their dose history and the per-kg dose at the weight of each step
    (pure over already-loaded rows)."""
    out = []
    for c in courses:
        drug = catalogue.DRUGS[c.drug]
        doses = sorted(c.doses.all(), key=lambda d: (d.effective_date, d.id))
        row = CourseRow(course=c, drug=drug)
        for i, d in enumerate(doses):
            until = doses[i + 1].effective_date - dt.timedelta(days=1) if i + 1 < len(doses) else c.end_date
            w = _weight_on(weights, d.effective_date)
            per_kg = (
                (d.dose / w).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP) if (w and drug.per_kg_unit) else None
            )
            is_met = c.drug == "metreleptin"
            ml = (d.dose / catalogue.METRELEPTIN_MG_PER_ML).quantize(Decimal("0.01")) if is_met else None
            above = bool(is_met and w and catalogue.metreleptin_above_max(d.dose, w))
            row.doses.append(DoseRow(d, until, w, per_kg, drug.per_kg_unit, ml, above))
        out.append(row)
    return out


@dataclass
class Chart:
    patient: Patient
    show_identity: bool
    identity: object
    age: int | None
    diagnoses: list
    genetics: list
    latest: list[flags.ShownLab]
    recent_labs: list[tuple[LabResult, flags.ShownLab]]
    courses: list[CourseRow]
    visits: list[Visit]
    latest_weight: Decimal | None
    consents: list = field(default_factory=list)
    phenotypes: list = field(default_factory=list)


RECENT_LABS = 25


def patient_chart(*, user, patient: Patient) -> Chart:
    """Everything the chart shows, in a fixed number of queries."""
    today = timezone.localdate()
    show_identity = access.can_see_identity(user, patient)
    identity = None
    age = None
    if show_identity:
        identity = getattr(patient, "identity", None)
        if identity is not None:
            age = age_years(identity.birth_date, today)
    if age is None and patient.birth_year:
        age = today.year - patient.birth_year  # researchers see the year only: approximate
    system = user.unit_system
    latest = latest_labs(patient_ids=[patient.pk])
    order = list(catalogue.ANALYTES)
    shown_latest = [
        flags.show_lab(latest[(patient.pk, code)], sex=patient.sex, system=system)
        for code in order
        if (patient.pk, code) in latest
    ]
    recent = list(LabResult.objects.filter(patient=patient).order_by("-collected_on", "-id")[:RECENT_LABS])
    visits = list(
        Visit.objects.filter(patient=patient)
        .select_related("site")
        .annotate(n_labs=Count("lab_results"))
        .order_by("-visit_date", "-id")
    )
    weights = sorted((v.visit_date, v.weight_kg) for v in visits if v.weight_kg)
    courses = list(
        TreatmentCourse.objects.filter(patient=patient).prefetch_related("doses").order_by("-start_date", "-id")
    )
    return Chart(
        patient=patient,
        show_identity=show_identity,
        identity=identity,
        age=age,
        diagnoses=list(patient.diagnoses.all()),
        genetics=list(patient.genetic_findings.all()),
        latest=shown_latest,
        recent_labs=[(r, flags.show_lab(r, sex=patient.sex, system=system)) for r in recent],
        courses=course_rows(courses=courses, weights=weights),
        visits=visits,
        latest_weight=_weight_on(weights, today),
        consents=list(patient.consents.select_related("recorded_by").order_by("-consented_on", "-id")),
        phenotypes=list(patient.phenotypes.order_by("-observed_on", "hpo_id")),
    )


def patient_labs(
    *, patient: Patient, analyte: str = "", date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet[LabResult]:
    """Every lab result of a patient already fetched through the access layer, newest
    first, optionally for one analyte and a collection date range (inclusive)."""
    qs = LabResult.objects.filter(patient=patient)
    if analyte:
        qs = qs.filter(analyte=analyte)
    if date_from:
        qs = qs.filter(collected_on__gte=date_from)
    if date_to:
        qs = qs.filter(collected_on__lte=date_to)
    return qs.select_related("visit").order_by("-collected_on", "-id")


def patient_history(*, patient: Patient) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(patient=patient).select_related("user").order_by("-at", "-id")
