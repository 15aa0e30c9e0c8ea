"""Reads for the cohort dashboard: aggregates over snapshot rows, never per-patient labs.

Patients come from ``registry.access.cohort_patients_for_user``; every figure reads
aggregates (GROUP BY) or the computed ``CourseResponse`` rows (and the patients'
``evaluated_at``, set when their trends were computed), in a fixed number of queries
whatever the number of patients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Count, DateField, Max, Min, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from clinical import catalogue, trends
from clinical.charts.data import CohortData, ResponsePoint
from clinical.models import Alert, AlertStatus, CourseResponse, TreatmentCourse
from registry import access
from registry.models import Patient, Sex

# Filter bands (display groupings). Age from the birth year, years since the first
# metreleptin start: (code, label, lower bound inclusive, upper bound exclusive).
AGE_BANDS = (
    ("0-17", "under 18", 0, 18),
    ("18-39", "18 to 39", 18, 40),
    ("40-59", "40 to 59", 40, 60),
    ("60+", "60 and over", 60, 200),
)
YEARS_BANDS = (
    ("0-1", "under 1 year", 0, 1),
    ("1-3", "1 to 3 years", 1, 3),
    ("3-5", "3 to 5 years", 3, 5),
    ("5+", "5 years or more", 5, 100),
)
ALERT_MONTHS = 24
SEVERITIES = ("info", "warning", "critical")
HIDDEN_ALERT_STATUSES = ("withdrawn",)


@dataclass(frozen=True)
class CohortFilters:
    site: str = ""
    subtype: str = ""
    sex: str = ""
    age: str = ""
    years: str = ""

    @classmethod
    def from_query(cls, q) -> CohortFilters:
        def pick(key: str, allowed) -> str:
            value = (q.get(key) or "").strip()[:32]
            return value if value in allowed else ""

        return cls(
            site=(q.get("site") or "").strip()[:16],
            subtype=pick("subtype", catalogue.SUBTYPES),
            sex=pick("sex", Sex.values),
            age=pick("age", {b[0] for b in AGE_BANDS}),
            years=pick("years", {b[0] for b in YEARS_BANDS}),
        )

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def _years_ago(today: dt.date, years: int) -> dt.date:
    return today - dt.timedelta(days=round(years * 365.25))


def cohort_patients(*, user, filters: CohortFilters, today: dt.date) -> QuerySet[Patient]:
    qs = access.cohort_patients_for_user(user)
    if filters.site:
        qs = access.at_site_code(qs, filters.site)
    if filters.subtype:
        qs = qs.filter(primary_subtype=filters.subtype)
    if filters.sex:
        qs = qs.filter(sex=filters.sex)
    for code, _label, lo, hi in AGE_BANDS:
        if filters.age == code:
            qs = qs.filter(birth_year__gt=today.year - hi, birth_year__lte=today.year - lo)
    for code, _label, lo, hi in YEARS_BANDS:
        if filters.years == code:
            first = (
                TreatmentCourse.objects.filter(patient=OuterRef("pk"), drug="metreleptin")
                .order_by("start_date")
                .values("start_date")[:1]
            )
            qs = qs.annotate(first_metreleptin=Subquery(first)).filter(
                first_metreleptin__lte=_years_ago(today, lo), first_metreleptin__gt=_years_ago(today, hi)
            )
    return qs


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def alert_months(today: dt.date) -> list[dt.date]:
    """The first days of the last ALERT_MONTHS months, the month of ``today`` last."""
    first = _month_start(today)
    for _ in range(ALERT_MONTHS - 1):
        first = _month_start(first - dt.timedelta(days=1))
    months = [first]
    while _add_month(months[-1]) <= today:
        months.append(_add_month(months[-1]))
    return months


def open_by_month(
    spans: Iterable[tuple[dt.date, dt.date | None, str, int]], months: list[dt.date]
) -> dict[dt.date, dict[str, int]]:
    """Pure: ``n`` alerts of ``severity`` opened on one day and closed on another (None:
    still open) -> for each month of ``months`` (contiguous first days), the alerts open at
    its end by severity: opened in or before that month, closed in a later month or not
    at all. Each span adds its count once where it starts counting and takes it off where
    it stops, so the work grows with the spans plus the months, not their product."""
    index = {m: i for i, m in enumerate(months)}
    last = len(months)

    def position(day: dt.date) -> int:
        month = _month_start(day)
        return 0 if month <= months[0] else index.get(month, last)

    steps = {sev: [0] * (last + 1) for sev in SEVERITIES}
    for opened, closed, severity, n in spans:
        if severity not in steps:
            continue
        since = position(opened)
        until = last if closed is None else position(closed)
        if since < until:
            steps[severity][since] += n
            steps[severity][until] -= n
    out: dict[dt.date, dict[str, int]] = {m: {} for m in months}
    for severity, step in steps.items():
        running = 0
        for i, month in enumerate(months):
            running += step[i]
            out[month][severity] = running
    return out


def open_alerts_by_month(*, patients: QuerySet[Patient], today: dt.date) -> dict[dt.date, dict[str, int]]:
    """Alerts open at the end of each of the last 24 months, by severity: opened in the
    month of their evidence date, closed in the month they were acknowledged or resolved
    (any status but open). One GROUP BY query over (opened day, closed day)."""
    # Grouped by the plain dates and folded into months in Python: truncating to the month
    # in SQL casts every row to a timestamp with a time zone (most of the query's time).
    # Alerts closed before the first month never count; an earlier opening day counts as
    # the first month's first day (fewer groups, the same months).
    months = alert_months(today)
    rows = (
        Alert.objects.filter(patient__in=patients)
        .exclude(status__in=HIDDEN_ALERT_STATUSES)
        .annotate(
            opened=Coalesce("observed_on", TruncDate("created_at"), output_field=DateField()),
            closed=Case(
                When(status=AlertStatus.OPEN, then=Value(None)),
                default=TruncDate(Coalesce("resolved_at", "acknowledged_at", "updated_at")),
                output_field=DateField(),
            ),
        )
        .filter(Q(closed__isnull=True) | Q(closed__gte=months[0]))
        .annotate(since=Greatest("opened", Value(months[0]), output_field=DateField()))
        .values_list("since", "closed", "severity")
        .annotate(n=Count("*"))  # not COUNT(id): the query reads only alert_status_cover_idx
    )
    return open_by_month(rows, months)


def cohort_data(*, user, filters: CohortFilters, today: dt.date | None = None) -> CohortData:
    """The cohort dashboard's aggregates in three queries, whatever the cohort's size."""
    today = today or timezone.localdate()
    patients = cohort_patients(user=user, filters=filters, today=today)
    groups = list(  # 1: patients by site and subtype, with when their trends were computed
        patients.values_list("home_site__code", "primary_subtype").annotate(
            n=Count("id"),
            pending=Count("id", filter=Q(needs_evaluation=True) | Q(evaluated_at__isnull=True)),
            oldest=Min("evaluated_at"),
            newest=Max("evaluated_at"),
        )
    )
    oldest = min((g[4] for g in groups if g[4] is not None), default=None)
    newest = max((g[5] for g in groups if g[5] is not None), default=None)
    latest: dict[int, tuple] = {}
    for row in (  # 2: the latest metreleptin course of each treated patient
        CourseResponse.objects.filter(course__patient__in=patients, course__drug="metreleptin")
        .order_by("course__patient_id", "-course__start_date", "-course_id")
        .values_list(
            "course__patient_id",
            "course__patient__registry_code",
            "course__start_date",
            "course__end_date",
            "response_class",
            "hba1c_change",
            "tg_percent_change",
        )
    ):
        latest.setdefault(row[0], row)
    responses = [
        ResponsePoint(
            label=code,
            response_class=response_class,
            provisional=trends.month12_provisional(start=start, end=end, today=today),
            tg_percent_change=tg,
            hba1c_change=hba1c,
        )
        for _pid, code, start, end, response_class, hba1c, tg in latest.values()
    ]
    return CohortData(
        n_patients=sum(g[2] for g in groups),
        site_subtype={(site, subtype): n for site, subtype, n, *_rest in groups},
        responses=responses,
        open_alerts=open_alerts_by_month(patients=patients, today=today),  # 3
        computed_oldest=oldest,
        computed_newest=newest,
        not_evaluated=sum(g[3] for g in groups),
    )


def filter_choices(*, user) -> dict[str, Any]:
    """The values the filter form offers (sites the user's cohort spans)."""
    return {
        "sites": list(access.cohort_sites_for_user(user).values_list("code", flat=True)),
        "subtypes": catalogue.SUBTYPE_CHOICES,
        "sexes": Sex.choices,
        "ages": [(c, label) for c, label, _lo, _hi in AGE_BANDS],
        "years": [(c, label) for c, label, _lo, _hi in YEARS_BANDS],
    }
