"""Reads for the patient dashboard and the chart's response summary.

The patient comes through ``registry.access``; everything else is a fixed number of
queries whatever the number of results (labs, visits, courses, doses, alerts), turned
into the plain data of ``clinical.charts.data``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clinical import catalogue, trends
from clinical.alerts import render_alert_message
from clinical.charts.common import RESPONSE_LABELS, delta_text, percent_text, shown, unit_for
from clinical.charts.data import (
    AlertMark,
    AnalyteResponse,
    CourseSpan,
    CourseSummary,
    DoseStep,
    LabPoint,
    MarkedPoint,
    PatientSeries,
    WeightPoint,
)
from clinical.models import Alert, LabResult, TreatmentCourse, Visit
from registry.models import Patient

DASHBOARD_ANALYTES = ("triglycerides", "hba1c", "glucose", "leptin", "alt", "ast")
RESPONSE_ANALYTES = ("hba1c", "triglycerides")
HIDDEN_ALERT_STATUSES = ("withdrawn",)  # RULES.md 5: a withdrawn alert is history, not a finding


def patient_today(patient: Patient) -> dt.date:
    """Today in the time zone of the patient's site (RULES.md 5)."""
    return patient.today()


# --- pure: one course's response summary ---------------------------------------------------


def _marked(month: int, p: trends.Point, base: trends.Point | None) -> MarkedPoint:
    return MarkedPoint(month, p.on, p.value, trends.change(p, base), trends.percent_change(p, base))


def analyte_response(
    points: list[trends.Point], *, analyte: str, start: dt.date, end: dt.date | None, today: dt.date
) -> AnalyteResponse:
    """Baseline (any value in the 90 days up to the start), month 3/6/12 and nadir (only
    values collected while the course ran), slope over the last 730 days of the course."""
    stop = min(end, today) if end else today
    on_treatment = [p for p in points if start <= p.on <= stop]
    base = trends.baseline(points, start)
    months = {}
    for m in trends.MONTHS:
        v = trends.month_value(on_treatment, start, m)
        if v is not None:
            months[m] = _marked(m, v, base)
    nad = trends.nadir(on_treatment, start, stop)
    return AnalyteResponse(
        analyte=analyte,
        baseline=MarkedPoint(0, base.on, base.value) if base else None,
        months=months,
        nadir=MarkedPoint(-1, nad.on, nad.value) if nad else None,
        slope_per_year=trends.theil_sen_slope_per_year(on_treatment, stop),
        n_on_treatment=len(on_treatment),
    )


def course_summary(
    *, start: dt.date, end: dt.date | None, series: dict[str, list[trends.Point]], today: dt.date
) -> CourseSummary:
    analytes = {
        a: analyte_response(series.get(a, []), analyte=a, start=start, end=end, today=today) for a in RESPONSE_ANALYTES
    }
    h12 = analytes["hba1c"].months.get(12)
    t12 = analytes["triglycerides"].months.get(12)
    h = h12.change if h12 else None
    t = t12.percent_change if t12 else None
    return CourseSummary(
        start=start,
        end=end,
        response_class=trends.response_class(h, t),
        provisional=trends.month12_provisional(start=start, end=end, today=today),
        hba1c_change=h,
        tg_percent_change=t,
        analytes=analytes,
    )


# --- queries ----------------------------------------------------------------------------


def _lab_points(patient: Patient, analytes) -> dict[str, list[tuple[dt.date, Decimal, bool | None]]]:
    out: dict[str, list[tuple[dt.date, Decimal, bool | None]]] = defaultdict(list)
    rows = (
        LabResult.objects.filter(patient=patient, analyte__in=list(analytes))
        .order_by("collected_on", "id")
        .values_list("analyte", "collected_on", "canonical_value", "fasting")
    )
    for analyte, on, value, fasting in rows:
        out[analyte].append((on, value, fasting))
    return out


def _metreleptin_courses(patient: Patient) -> list[tuple[dt.date, dt.date | None]]:
    return list(
        TreatmentCourse.objects.filter(patient=patient, drug="metreleptin")
        .order_by("start_date", "id")
        .values_list("start_date", "end_date")
    )


def _summaries(courses, labs, today: dt.date) -> list[CourseSummary]:
    series = {a: [trends.Point(on, v) for on, v, _ in labs.get(a, [])] for a in RESPONSE_ANALYTES}
    return [course_summary(start=s, end=e, series=series, today=today) for s, e in courses]


def course_summaries(*, patient: Patient) -> list[CourseSummary]:
    """Every metreleptin course of a patient (fetched through the access layer) with its
    response summary: two queries."""
    today = patient_today(patient)
    return _summaries(_metreleptin_courses(patient), _lab_points(patient, RESPONSE_ANALYTES), today)


def _uln(analyte: str, sex: str) -> Decimal | None:
    """The default upper reference limit; other or unknown sex: the lower of the two
    (RULES.md 5, as the alert rules do)."""
    ref = catalogue.ANALYTES[analyte].reference
    if sex in ref and ref[sex].high is not None:
        return ref[sex].high
    highs = [r.high for r in ref.values() if r.high is not None]
    return min(highs) if highs else None


def _bmi(kg: Decimal, cm: Decimal | None) -> Decimal | None:
    if not cm:
        return None
    m = cm / 100
    return (kg / (m * m)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def patient_dashboard_series(*, patient: Patient) -> PatientSeries:
    """Everything the patient dashboard plots, for a patient fetched through the access
    layer, in four queries whatever the number of results."""
    today = patient_today(patient)
    labs = _lab_points(patient, DASHBOARD_ANALYTES)  # 1
    visits = list(  # 2
        Visit.objects.filter(patient=patient, weight_kg__isnull=False)
        .order_by("visit_date", "id")
        .values_list("visit_date", "weight_kg", "height_cm")
    )
    height = None
    weights = []
    for on, kg, cm in visits:
        height = cm or height  # adults' height rarely changes: carry the last one forward
        weights.append(WeightPoint(on, kg, _bmi(kg, height)))
    course_rows: dict[int, tuple[str, dt.date, dt.date | None]] = {}
    doses: dict[int, list[tuple[dt.date, Decimal, str]]] = defaultdict(list)
    for pk, drug, start, end, on, dose, unit in (  # 3: courses with their doses (outer join)
        TreatmentCourse.objects.filter(patient=patient)
        .order_by("start_date", "id", "doses__effective_date", "doses__id")
        .values_list("id", "drug", "start_date", "end_date", "doses__effective_date", "doses__dose", "doses__dose_unit")
    ):
        course_rows.setdefault(pk, (drug, start, end))
        if on is not None:
            doses[pk].append((on, dose, unit))
    weight_days = [(w.on, w.kg) for w in weights]
    courses = []
    for pk, (drug, start, end) in course_rows.items():
        info = catalogue.DRUGS.get(drug)
        steps = []
        for on, dose, unit in doses[pk]:
            kg = _weight_on(weight_days, on)
            per_kg = None
            if kg and info is not None and info.per_kg_unit:
                per_kg = (dose / kg).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
            steps.append(DoseStep(on, dose, unit, per_kg, info.per_kg_unit if info else ""))
        courses.append(CourseSpan(drug, info.name if info else drug, start, end, tuple(steps)))
    alerts = []
    for rule, severity, params, message, observed, created in (  # 4
        Alert.objects.filter(patient=patient)
        .exclude(status__in=HIDDEN_ALERT_STATUSES)
        .order_by("observed_on", "id")
        .values_list("rule", "severity", "params", "message", "observed_on", "created_at")
    ):
        messages = {
            system: (render_alert_message(rule, params, system) if params else message)
            for system in catalogue.UNIT_SYSTEMS
        }
        alerts.append(AlertMark(observed or created.date(), severity, rule, messages))
    met = [(c.start, c.end) for c in courses if c.is_metreleptin]
    return PatientSeries(
        label=patient.registry_code,
        sex=patient.sex,
        today=today,
        labs={a: [LabPoint(on, v, f) for on, v, f in pts] for a, pts in labs.items()},
        weights=weights,
        courses=courses,
        alerts=alerts,
        summaries=_summaries(met, labs, today),
        uln={a: u for a in ("alt", "ast") if (u := _uln(a, patient.sex)) is not None},
    )


def _weight_on(weights: list[tuple[dt.date, Decimal]], day: dt.date) -> Decimal | None:
    """Latest weight on or before ``day``, else the first within 30 days after it (as the
    dose rule does, RULES.md 5)."""
    before = [kg for on, kg in weights if on <= day]
    if before:
        return before[-1]
    after = [kg for on, kg in weights if day < on <= day + dt.timedelta(days=30)]
    return after[0] if after else None


# --- display rows of a summary (the user's units) ------------------------------------------


def _value(analyte: str, mp: MarkedPoint | None, system: str) -> dict[str, Any] | None:
    if mp is None:
        return None
    return {"text": shown(analyte, mp.canonical, system)[1], "on": mp.on}


def summary_display(summary: CourseSummary, system: str) -> dict[str, Any]:
    """A course summary as text in ``system``: what the chart's response table shows."""
    rows = []
    for code in RESPONSE_ANALYTES:
        a = summary.analytes[code]
        unit = unit_for(code, system)
        months = []
        for m in trends.MONTHS:
            mp = a.months.get(m)
            months.append(
                {
                    "month": m,
                    "value": _value(code, mp, system),
                    "change": delta_text(code, mp.change, system) if mp and mp.change is not None else "",
                    "percent": percent_text(mp.percent_change) if mp and mp.percent_change is not None else "",
                }
            )
        slope = ""
        if a.slope_per_year is not None:
            slope = delta_text(code, Decimal(str(a.slope_per_year)), system)
        rows.append(
            {
                "analyte": code,
                "name": catalogue.ANALYTES[code].name,
                "unit": unit,
                "baseline": _value(code, a.baseline, system),
                "months": months,
                "nadir": _value(code, a.nadir, system),
                "slope": slope,
                "n": a.n_on_treatment,
            }
        )
    if summary.provisional:
        closes = summary.start + dt.timedelta(days=catalogue.MONTH12_WINDOW_CLOSED_DAYS)
        status = "provisional"
        detail = f"month-12 window open until {closes:%-d %b %Y}"
        if summary.response_class != "insufficient_data":
            detail += f"; so far: {RESPONSE_LABELS[summary.response_class].lower()}"
    elif summary.response_class == "insufficient_data" and len(summary.no_baseline) == len(RESPONSE_ANALYTES):
        status, detail = "no_baseline", ""  # the template says which baselines are missing
    else:
        status, detail = summary.response_class, ""
    return {
        "start": summary.start,
        "end": summary.end,
        "status": status,
        "label": {"no_baseline": "No baseline"}.get(status) or RESPONSE_LABELS[status],
        "detail": detail,
        "no_baseline": [catalogue.ANALYTES[c].name for c in summary.no_baseline],
        "rows": rows,
    }
