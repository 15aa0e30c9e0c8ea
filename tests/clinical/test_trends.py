"""Trend and response functions (RULES.md section 3), without the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical import trends
from clinical.trends import Point

START = dt.date(2024, 1, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def pts(*pairs) -> list[Point]:
    return [Point(day(n), D(str(v))) for n, v in pairs]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([(-90, 5), (-10, 6)], (-10, 6)),  # the last value in the window
        ([(-90, 5)], (-90, 5)),  # day -90 is inside (inclusive)
        ([(-91, 5)], None),  # day -91 is outside: no baseline
        ([(0, 7), (-5, 6)], (0, 7)),  # the start day itself counts
        ([(1, 7)], None),  # a later value is never a baseline
        ([], None),
    ],
)
def test_baseline_window(series, expected):
    got = trends.baseline(pts(*series), START)
    assert (None if got is None else ((got.on - START).days, got.value)) == (
        None if expected is None else (expected[0], D(str(expected[1])))
    )


def test_baseline_same_day_takes_the_last_recorded():
    series = [Point(START, D(5)), Point(START, D(6))]
    assert trends.baseline(series, START).value == D(6)


# month 3 target = 91.32 days (window +/- 30 -> days 62..121); month 12 = 365.28 (+/- 60 -> 306..425)
@pytest.mark.parametrize(
    ("month", "series", "expected_day"),
    [
        (3, [(91, 1), (92, 2)], 91),  # 0.32 vs 0.68 days away
        (3, [(62, 1)], 62),  # 29.32 days: inside
        (3, [(61, 1)], None),  # 30.32 days: outside
        (3, [(121, 1)], 121),  # 29.68: inside
        (3, [(122, 1)], None),
        (6, [(182, 1), (183, 2)], 183),  # target 182.64: 183 is closer
        (12, [(306, 1)], 306),  # 59.28 days: inside the +/- 60 window
        (12, [(305, 1)], None),
        (12, [(425, 1)], 425),
        (12, [(426, 1)], None),
    ],
)
def test_month_value_closest_in_window(month, series, expected_day):
    got = trends.month_value(pts(*series), START, month)
    assert (None if got is None else (got.on - START).days) == expected_day


def test_month_value_same_day_keeps_the_first_recorded():
    same_day = [Point(day(91), D(1)), Point(day(91), D(2))]
    assert trends.month_value(same_day, START, 3).value == D(1)


def test_month_value_tie_with_equal_distance_on_both_sides(monkeypatch):
    from clinical import catalogue

    monkeypatch.setattr(catalogue, "DAYS_PER_MONTH", D("30.5"))  # month 3 target = 91.5
    got = trends.month_value(pts((91, 1), (92, 2)), START, 3)
    assert got.on == day(91)


def test_change_and_percent_change():
    base, m12 = Point(START, D("10")), Point(day(365), D("6"))
    assert trends.change(m12, base) == D(-4)
    assert trends.percent_change(m12, base) == D(-40)
    assert trends.change(m12, None) is None
    assert trends.percent_change(m12, Point(START, D(0))) is None


def test_nadir_only_on_treatment():
    series = pts((-10, 1), (10, 5), (20, 3), (30, 3), (400, 0.5))
    assert trends.nadir(series, START, day(100)) == Point(day(20), D(3))  # earliest of equal lows
    assert trends.nadir(series, START) == Point(day(400), D("0.5"))
    assert trends.nadir(pts((-10, 1)), START) is None


def test_theil_sen_slope_known_line():
    as_of = day(730)
    series = [Point(day(n), D(10) + D(n) / D("365.25")) for n in (0, 100, 400, 700)]
    assert trends.theil_sen_slope_per_year(series, as_of) == pytest.approx(1.0)


def test_theil_sen_is_robust_to_one_outlier():
    series = pts((0, 1), (365, 2), (730, 3), (400, 100))
    # pairwise slopes per year: median ignores the outlier's pull
    assert trends.theil_sen_slope_per_year(series, day(730)) == pytest.approx(1.0, abs=0.5)


@pytest.mark.parametrize(
    ("series", "as_of_day", "expected"),
    [
        ([(0, 1), (1, 2)], 10, None),  # fewer than 3 values
        ([(-1, 1), (100, 2), (200, 3)], 730, None),  # day -1 is 731 days before as_of: outside
        ([(0, 1), (0, 2), (0, 3)], 10, None),  # all on one date
    ],
)
def test_theil_sen_needs_three_values_in_730_days(series, as_of_day, expected):
    assert trends.theil_sen_slope_per_year(pts(*series), day(as_of_day)) == expected


def test_theil_sen_window_edge_is_inclusive():
    series = pts((0, 1), (100, 2), (200, 3))
    assert trends.theil_sen_slope_per_year(series, day(730)) is not None
    assert trends.theil_sen_slope_per_year(series, day(731)) is None


@given(
    slope=st.decimals(min_value=-50, max_value=50, places=2),
    intercept=st.decimals(min_value=0, max_value=100, places=2),
    days=st.lists(st.integers(min_value=0, max_value=730), min_size=3, max_size=12, unique=True),
)
def test_theil_sen_recovers_any_exact_line(slope, intercept, days):
    series = [Point(day(n), intercept + slope * D(n) / D("365.25")) for n in days]
    assert trends.theil_sen_slope_per_year(series, day(730)) == pytest.approx(float(slope), abs=1e-6)


@pytest.mark.parametrize(
    ("hba1c", "tg", "expected"),
    [
        ("-2.0", None, "strong_responder"),  # exactly at the limit
        ("-1.99", None, "responder"),
        (None, "-40", "strong_responder"),
        (None, "-39.9", "responder"),
        ("-1.0", None, "responder"),
        (None, "-30", "responder"),
        ("-0.99", "-29.9", "non_responder"),
        ("0.5", None, "non_responder"),
        (None, "10", "non_responder"),
        ("0", "-45", "strong_responder"),  # either criterion suffices
        (None, None, "insufficient_data"),
    ],
)
def test_response_class(hba1c, tg, expected):
    h = D(hba1c) if hba1c is not None else None
    t = D(tg) if tg is not None else None
    assert trends.response_class(h, t) == expected


@given(
    h=st.one_of(st.none(), st.decimals(min_value=-10, max_value=10, places=2)),
    t=st.one_of(st.none(), st.decimals(min_value=-100, max_value=500, places=1)),
)
def test_response_class_is_monotone(h, t):
    """Improving either change never lowers the class."""
    order = ["insufficient_data", "non_responder", "responder", "strong_responder"]
    base = order.index(trends.response_class(h, t))
    better_h = h - 1 if h is not None else None
    better_t = t - 10 if t is not None else None
    assert order.index(trends.response_class(better_h, better_t)) >= base


def test_course_response_uses_baseline_and_month_12():
    hba1c = pts((-30, 9.0), (365, 6.9))
    tg = pts((-5, 10), (360, 7))
    r = trends.course_response(hba1c=hba1c, triglycerides=tg, start=START)
    assert r.hba1c_change == D("-2.1") and r.tg_percent_change == D(-30)
    assert r.response_class == "strong_responder"


def test_course_response_without_baseline_is_insufficient():
    r = trends.course_response(hba1c=pts((10, 9), (365, 6)), triglycerides=[], start=START)
    assert r.response_class == "insufficient_data" and r.hba1c_change is None


def test_analyte_trend_without_course_has_only_latest_and_slope():
    t = trends.analyte_trend(pts((0, 1), (100, 2), (200, 3)), as_of=day(200))
    assert t.latest.value == D(3) and t.baseline is None and t.months == {} and t.slope_per_year is not None
    assert t.n_values == 3


def test_analyte_trend_with_course():
    t = trends.analyte_trend(pts((-1, 10), (91, 8), (183, 6), (365, 5)), as_of=day(400), start=START)
    assert t.baseline.value == D(10)
    assert {m: mv.value.value for m, mv in t.months.items()} == {3: D(8), 6: D(6), 12: D(5)}
    assert t.months[12].percent_change == D(-50)
    assert t.nadir.value == D(5)
