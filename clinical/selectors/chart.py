"""Reads for the patient chart: everything it shows, in a fixed number of queries, for a
patient already fetched through ``registry.access``."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count
from django.utils import timezone

from clinical import catalogue, flags
from clinical.models import DoseChange, LabResult, TreatmentCourse, Visit
from clinical.selectors.patients import latest_labs
from registry import access
from registry.models import Patient


def age_years(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass
class DoseStep:
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
    doses: list[DoseStep] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Ongoing: a course with a stop date is shown stopped, never active, even on
        the stop day itself (the "Stopped" line and an "active" badge contradicted)."""
        return self.course.end_date is None


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
            row.doses.append(DoseStep(d, until, w, per_kg, drug.per_kg_unit, ml, above))
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
