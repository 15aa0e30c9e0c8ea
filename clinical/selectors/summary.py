"""Reads for the printable one-page summary of a patient already fetched through
``registry.access``: the chart's facts, trimmed to what a letter or a team meeting needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from clinical import formatting
from clinical.models import CourseResponse, TrendSnapshot
from clinical.selectors.alerts import patient_open_alerts
from clinical.selectors.chart import Chart, CourseRow, patient_chart
from registry.models import Patient

# The two analytes the metreleptin response is judged on (RULES.md section 3).
RESPONSE_ANALYTES = ("hba1c", "triglycerides")


@dataclass
class ResponseLine:
    """Baseline -> latest of one response analyte on one course, already formatted."""

    analyte: str
    baseline: str
    baseline_on: object
    latest: str
    latest_on: object


@dataclass
class CourseResponseRow:
    course: CourseRow
    response: CourseResponse | None
    lines: list[ResponseLine] = field(default_factory=list)


@dataclass
class Summary:
    chart: Chart
    current_courses: list[CourseRow]
    responses: list[CourseResponseRow]
    alerts: list


def _shown(value: float | None, analyte: str, system: str) -> str:
    if value is None:
        return ""
    return formatting.format_measure(Decimal(repr(value)), analyte=analyte, system=system)


def patient_summary(*, user, patient: Patient) -> Summary:
    """The chart (fixed queries) plus the metreleptin response and the open alerts."""
    chart = patient_chart(user=user, patient=patient)
    system = user.unit_system
    met = [row for row in chart.courses if row.course.drug == "metreleptin"]
    responses = {r.course_id: r for r in CourseResponse.objects.filter(course__in=[row.course.pk for row in met])}
    snaps = {
        s.analyte: s
        for s in TrendSnapshot.objects.filter(patient=patient, analyte__in=RESPONSE_ANALYTES, course__isnull=False)
    }
    rows = []
    for row in met:
        lines = []
        for analyte in RESPONSE_ANALYTES:
            snap = snaps.get(analyte)
            if snap is None or snap.course_id != row.course.pk:
                continue
            lines.append(
                ResponseLine(
                    analyte=analyte,
                    baseline=_shown(snap.baseline_value, analyte, system),
                    baseline_on=snap.baseline_on,
                    latest=_shown(snap.latest_value, analyte, system),
                    latest_on=snap.latest_on,
                )
            )
        rows.append(CourseResponseRow(course=row, response=responses.get(row.course.pk), lines=lines))
    return Summary(
        chart=chart,
        current_courses=[row for row in chart.courses if row.active],
        responses=rows,
        alerts=patient_open_alerts(patient=patient),
    )
