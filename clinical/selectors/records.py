"""Reads of one patient's records for the lab page and the API: labs, visits, treatment
courses and their doses, trends. Every function takes a patient already fetched through
``registry.access``; a record id that is not this patient's is a 404 like any other."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, UUIDField
from django.db.models.expressions import RawSQL

from clinical import catalogue
from clinical.models import CourseResponse, DoseChange, LabImport, LabResult, TreatmentCourse, TrendSnapshot, Visit
from registry import access
from registry.models import Patient, User

# --- labs -------------------------------------------------------------------------------


def patient_labs(
    *, patient: Patient, analyte: str = "", date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet[LabResult]:
    """Every lab result of the patient, newest first, optionally for one analyte and a
    collection date range (inclusive). The patient is joined for the flags (sex)."""
    qs = patient.lab_results.all()  # the related manager: each row knows its patient
    if analyte:
        qs = qs.filter(analyte=analyte)
    if date_from:
        qs = qs.filter(collected_on__gte=date_from)
    if date_to:
        qs = qs.filter(collected_on__lte=date_to)
    return qs.select_related("patient", "visit").order_by("-collected_on", "-id")


# What the API's lab list reads of each row (``clinical.api.lab_rows``): the columns of
# the result, its visit's public id and its patient's sex (for the flag); no model instances
# (the cursor pages by collected_on, read here too).
LAB_ROW_FIELDS = (
    "public_id", "analyte", "value", "unit", "canonical_value", "collected_on", "fasting", "reference_low",
    "reference_high", "source", "version", "created_at", "updated_at", "visit__public_id", "patient__sex",
)  # fmt: skip


def patient_lab_rows(
    *, user: User, patient_id, analyte: str = "", date_from: dt.date | None = None, date_to: dt.date | None = None
) -> QuerySet:
    """:func:`patient_labs` of the patient ``patient_id`` as ``user`` may read them, in one
    query (the patient is scoped on the join, ``registry.access.patient_records_for_user``):
    dicts of ``LAB_ROW_FIELDS``, newest first.
    Empty for a patient that is not the user's as for one without results: the caller
    reads the patient when it needs to tell them apart (404)."""
    where: dict[str, Any] = {}
    if analyte:
        where["analyte"] = analyte
    if date_from:
        where["collected_on__gte"] = date_from
    if date_to:
        where["collected_on__lte"] = date_to
    qs = _lab_rows_base()
    return access.patient_records_for_user(qs.filter(**where) if where else qs, user, patient_id)


@functools.cache
def _lab_rows_base() -> QuerySet:
    # Columns and order are the same for every request: built once, cloned per request
    # (building the values() query took as long as running it). The visit's public id is a
    # subquery in the select list rather than a join: PostgreSQL then reads the visits of the
    # page's rows only, after the top-N sort, instead of joining every result of the patient
    # first (written as SQL: the ORM's Subquery took longer to compile than it saved).
    lab, visit = LabResult._meta, Visit._meta
    sql = (
        f'(SELECT v."{visit.get_field("public_id").column}" FROM "{visit.db_table}" v '
        f'WHERE v."{visit.pk.column}" = "{lab.db_table}"."{lab.get_field("visit").column}")'
    )
    visit_public_id = RawSQL(sql, (), output_field=UUIDField())  # noqa: S611 (names from the models, no input)
    columns = [f for f in LAB_ROW_FIELDS if f != "visit__public_id"]
    return LabResult.objects.order_by("-collected_on", "-id").values(*columns, visit__public_id=visit_public_id)


def patient_lab(*, patient: Patient, public_id) -> LabResult:
    return access.one_or_404(patient_labs(patient=patient), public_id, "lab result")


# --- visits -----------------------------------------------------------------------------


def patient_visits(*, patient: Patient) -> QuerySet[Visit]:
    return patient.visits.select_related("site").order_by("-visit_date", "-id")


def patient_visit(*, patient: Patient, public_id) -> Visit:
    return access.one_or_404(patient_visits(patient=patient), public_id, "visit")


def visit_lab_count(*, visit: Visit) -> int:
    return visit.lab_results.count()


def visit_parts(*, visit: Visit) -> tuple[list, list]:
    """The visit's skinfolds and HPO findings (the rows its edit form starts from)."""
    return list(visit.skinfolds.all()), list(visit.phenotypes.all())


# --- treatment courses ------------------------------------------------------------------


def patient_courses(*, patient: Patient) -> QuerySet[TreatmentCourse]:
    """Courses with their dose history (one extra query for every dose of the page)."""
    return patient.treatment_courses.prefetch_related("doses").order_by("-start_date", "-id")


def patient_course(*, patient: Patient, public_id, doses: bool = True) -> TreatmentCourse:
    qs = patient_courses(patient=patient) if doses else patient.treatment_courses.all()
    return access.one_or_404(qs, public_id, "treatment course")


def course_doses(*, course: TreatmentCourse) -> QuerySet[DoseChange]:
    return course.doses.order_by("effective_date", "id")


def course_dose(*, course: TreatmentCourse, public_id) -> DoseChange:
    """One dose change of a course already fetched through ``registry.access``."""
    return access.one_or_404(course_doses(course=course), public_id, "dose change")


# --- trends -----------------------------------------------------------------------------


def _month_key(month) -> int:
    return int(month) if str(month).isdigit() else 0


def _analyte_trend(snap: TrendSnapshot) -> dict[str, Any]:
    months = []
    for m in sorted(snap.months or {}, key=_month_key):
        entry = snap.months[m] or {}
        months.append(
            {
                "month": int(m),
                "value": entry.get("value"),
                "on": entry.get("on"),
                "change": entry.get("change"),
                "percent_change": entry.get("percent_change"),
            }
        )
    info = catalogue.ANALYTES.get(snap.analyte)
    return {
        "analyte": snap.analyte,
        "unit": info.canonical_unit if info else "",
        "course": snap.course.public_id if snap.course_id else None,
        "n_values": snap.n_values,
        "latest_value": snap.latest_value,
        "latest_on": snap.latest_on,
        "baseline_value": snap.baseline_value,
        "baseline_on": snap.baseline_on,
        "nadir_value": snap.nadir_value,
        "nadir_on": snap.nadir_on,
        "slope_per_year": snap.slope_per_year,
        "months": months,
        "computed_at": snap.computed_at,
    }


def patient_trends(*, patient: Patient) -> dict[str, list[dict[str, Any]]]:
    """The stored trend snapshots and course responses of a patient (two queries), in
    canonical units: what the worker computed, never recomputed here."""
    snaps = TrendSnapshot.objects.filter(patient=patient).select_related("course").order_by("analyte")
    responses = (
        CourseResponse.objects.filter(course__patient=patient).select_related("course").order_by("course__start_date")
    )
    courses = [
        {
            "course": r.course.public_id,
            "drug": r.course.drug,
            "start_date": r.course.start_date,
            "response_class": r.response_class,
            "provisional": r.provisional,
            "hba1c_change": r.hba1c_change,
            "tg_percent_change": r.tg_percent_change,
            "computed_at": r.computed_at,
        }
        for r in responses
    ]
    return {"analytes": [_analyte_trend(s) for s in snaps], "courses": courses}


# --- lab imports ------------------------------------------------------------------------


def recent_lab_imports(*, user, limit: int = 10) -> list[LabImport]:
    """The user's own latest uploads (without their content), for the upload page."""
    return list(LabImport.objects.filter(user=user).defer("content", "plan")[:limit])


def last_height(*, patient: Patient) -> tuple[dt.date, Decimal] | None:
    """The latest recorded height (visit date, cm), for prefill and the height check."""
    row = (
        patient.visits.filter(height_cm__isnull=False)
        .order_by("-visit_date", "-id")
        .values_list("visit_date", "height_cm")
        .first()
    )
    return (row[0], row[1]) if row else None
