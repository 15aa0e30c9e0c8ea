"""Trends and metreleptin response (RULES.md section 3): pure functions over series.

A series is a list of :class:`clinical.records.Point` (date, canonical Decimal). Functions sort by date
themselves; for equal dates the input order is kept (the caller passes rows in id order),
so "the last value" of a day is the last one recorded. Windows and classes come from the
catalogue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from statistics import median

from clinical import catalogue
from clinical.records import Point

MONTHS = tuple(catalogue.MONTH_WINDOWS)


def _sorted(points: Sequence[Point]) -> list[Point]:
    return sorted(points, key=lambda p: p.on)


def latest(points: Sequence[Point]) -> Point | None:
    s = _sorted(points)
    return s[-1] if s else None


def baseline(points: Sequence[Point], start: dt.date) -> Point | None:
    """The last value in the 90 days up to and including ``start``; None: "no baseline"."""
    return _baseline(_sorted(points), start)


def _baseline(s: list[Point], start: dt.date) -> Point | None:
    lo = start - dt.timedelta(days=catalogue.BASELINE_WINDOW_DAYS)
    inside = [p for p in s if lo <= p.on <= start]
    return inside[-1] if inside else None


def month_target_offset(month: int) -> Decimal:
    """Days from the start to the month-m target (m x 30.44)."""
    return Decimal(month) * catalogue.DAYS_PER_MONTH


def month_value(points: Sequence[Point], start: dt.date, month: int, end: dt.date | None = None) -> Point | None:
    """The value closest to start + m x 30.44 days within +/- the month's window; ties go
    to the earlier value. Only values collected while the course ran (``start`` to
    ``end`` inclusive; no end: ongoing) count: a value after the stop is not a response."""
    return _month_value(_on_course(_sorted(points), start, end), start, month)


def _on_course(s: list[Point], start: dt.date, end: dt.date | None) -> list[tuple[Decimal, Point]]:
    """The points collected while the course ran, in order, with their day from the start."""
    return [(Decimal((p.on - start).days), p) for p in s if not (p.on < start or (end is not None and p.on > end))]


def _month_value(on_course: list[tuple[Decimal, Point]], start: dt.date, month: int) -> Point | None:
    target = month_target_offset(month)
    window = Decimal(catalogue.MONTH_WINDOWS[month])
    best: tuple[Decimal, dt.date] | None = None
    chosen = None
    for days, p in on_course:
        distance = abs(days - target)
        if distance > window:
            continue
        key = (distance, p.on)
        if best is None or key < best:  # strict: the earlier value keeps a tie
            best, chosen = key, p
    return chosen


def change(value: Point | None, base: Point | None) -> Decimal | None:
    if value is None or base is None:
        return None
    return value.value - base.value


def percent_change(value: Point | None, base: Point | None) -> Decimal | None:
    if value is None or base is None or base.value == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        return (value.value - base.value) * 100 / base.value


def nadir(points: Sequence[Point], start: dt.date, end: dt.date | None = None) -> Point | None:
    """The lowest value on treatment (start..end inclusive); the earliest of equal lows."""
    return _nadir(_sorted(points), start, end)


def _nadir(s: list[Point], start: dt.date, end: dt.date | None) -> Point | None:
    on = [p for p in s if p.on >= start and (end is None or p.on <= end)]
    return min(on, key=lambda p: (p.value, p.on)) if on else None


def theil_sen_slope_per_year(points: Sequence[Point], as_of: dt.date) -> float | None:
    """Median of pairwise slopes (per 365.25 days) over the last 730 days up to ``as_of``;
    None with fewer than 3 values or when all share one date."""
    return _theil_sen(_sorted(points), as_of)


def _theil_sen(s: list[Point], as_of: dt.date) -> float | None:
    lo = as_of - dt.timedelta(days=catalogue.SLOPE_WINDOW_DAYS)
    inside = [p for p in s if lo <= p.on <= as_of]
    if len(inside) < catalogue.SLOPE_MIN_VALUES:
        return None
    slopes = []
    for i, a in enumerate(inside):
        for b in inside[i + 1 :]:
            days = (b.on - a.on).days
            if days:
                slopes.append(float(b.value - a.value) / days * 365.25)
    return float(median(slopes)) if slopes else None


# --------------------------------------------------------------------------------------
# Metreleptin response
# --------------------------------------------------------------------------------------


def response_class(hba1c_change: Decimal | None, tg_percent_change: Decimal | None) -> str:
    """strong_responder / responder / non_responder / insufficient_data (NIH composite)."""
    for name, hba1c_limit, tg_limit in catalogue.RESPONSE_CLASSES:
        if (hba1c_change is not None and hba1c_change <= hba1c_limit) or (
            tg_percent_change is not None and tg_percent_change <= tg_limit
        ):
            return name
    if hba1c_change is not None or tg_percent_change is not None:
        return "non_responder"
    return "insufficient_data"


@dataclass(frozen=True)
class ResponseAssessment:
    response_class: str
    hba1c_change: Decimal | None
    tg_percent_change: Decimal | None
    provisional: bool = False


def course_response(
    *,
    hba1c: Sequence[Point],
    triglycerides: Sequence[Point],
    start: dt.date,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> ResponseAssessment:
    """The month-12 class of a course from values collected while it ran; provisional
    while the month-12 window is open (``today`` None: judged final)."""
    h = change(month_value(hba1c, start, 12, end), baseline(hba1c, start))
    t = percent_change(month_value(triglycerides, start, 12, end), baseline(triglycerides, start))
    provisional = today is not None and month12_provisional(start=start, end=end, today=today)
    return ResponseAssessment(response_class(h, t), h, t, provisional)


# --------------------------------------------------------------------------------------
# One analyte's trend
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthValue:
    value: Point
    change: Decimal | None
    percent_change: Decimal | None


@dataclass(frozen=True)
class AnalyteTrend:
    n_values: int
    latest: Point | None
    baseline: Point | None = None
    nadir: Point | None = None
    slope_per_year: float | None = None
    months: dict[int, MonthValue] = field(default_factory=dict)


def analyte_trend(
    points: Sequence[Point], *, as_of: dt.date, start: dt.date | None = None, end: dt.date | None = None
) -> AnalyteTrend:
    """Latest and slope always; baseline, month values and nadir relative to a course."""
    s = _sorted(points)  # once: the parts below read the same ordered series
    months: dict[int, MonthValue] = {}
    base = nad = None
    if start is not None:
        base = _baseline(s, start)
        nad = _nadir(s, start, end)
        on_course = _on_course(s, start, end)
        for m in MONTHS:
            v = _month_value(on_course, start, m)
            if v is not None:
                months[m] = MonthValue(v, change(v, base), percent_change(v, base))
    return AnalyteTrend(
        n_values=len(points),
        latest=s[-1] if s else None,
        baseline=base,
        nadir=nad,
        slope_per_year=_theil_sen(s, as_of),
        months=months,
    )


def month12_provisional(*, start: dt.date, end: dt.date | None, today: dt.date) -> bool:
    """True while the month-12 window of a course is still open: start + 425 days has not
    passed and the course has not ended (RULES.md section 3)."""
    if end is not None and end <= today:
        return False
    return today <= start + dt.timedelta(days=catalogue.MONTH12_WINDOW_CLOSED_DAYS)
