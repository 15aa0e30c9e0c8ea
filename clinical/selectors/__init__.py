"""Reads of the clinical record, by screen. Every function takes a user (and scopes
through ``registry.access``) or a patient already fetched through it; views, the API and
templates read through these and never query the ORM themselves."""

from __future__ import annotations

from clinical.selectors.alerts import (
    OBSERVED_WITHIN,
    AlertListFilters,
    WorklistFilters,
    alert_list,
    alert_worklist,
    patient_alert,
    patient_alerts,
    patient_open_alerts,
)
from clinical.selectors.chart import Chart, CourseRow, DoseStep, course_rows, patient_chart
from clinical.selectors.patients import (
    LIST_ANALYTES,
    PatientFilters,
    PatientRow,
    latest_labs,
    open_critical_alert_count,
    patient_list,
    patient_rows,
)
from clinical.selectors.records import (
    LAB_ROW_FIELDS,
    course_dose,
    course_doses,
    last_height,
    patient_course,
    patient_courses,
    patient_lab,
    patient_lab_rows,
    patient_labs,
    patient_trends,
    patient_visit,
    patient_visits,
    recent_lab_imports,
    visit_lab_count,
    visit_parts,
)

__all__ = [
    "LAB_ROW_FIELDS",
    "LIST_ANALYTES",
    "OBSERVED_WITHIN",
    "AlertListFilters",
    "Chart",
    "CourseRow",
    "DoseStep",
    "PatientFilters",
    "PatientRow",
    "WorklistFilters",
    "alert_list",
    "alert_worklist",
    "course_dose",
    "course_doses",
    "last_height",
    "course_rows",
    "latest_labs",
    "open_critical_alert_count",
    "patient_alert",
    "patient_alerts",
    "patient_chart",
    "patient_course",
    "patient_courses",
    "patient_lab",
    "patient_lab_rows",
    "patient_labs",
    "patient_list",
    "patient_open_alerts",
    "patient_rows",
    "patient_trends",
    "patient_visit",
    "patient_visits",
    "recent_lab_imports",
    "visit_lab_count",
    "visit_parts",
]
