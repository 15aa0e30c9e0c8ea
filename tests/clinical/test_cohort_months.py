"""Open alerts by month on the cohort dashboard: the pure fold from (opened, closed) spans
to the alerts open at the end of each month, without the database."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from clinical.selectors.cohort import ALERT_MONTHS, alert_months, open_by_month

TODAY = dt.date(2026, 3, 15)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def by_definition(spans, months):
    """Every month against every span: opened in or before the month, closed in a later
    month (or still open)."""
    out = {}
    for month in months:
        counts = {"info": 0, "warning": 0, "critical": 0}
        for opened, closed, severity, n in spans:
            if severity not in counts:
                continue
            if month_start(opened) <= month and (closed is None or month_start(closed) > month):
                counts[severity] += n
        out[month] = counts
    return out


def test_months_are_the_last_24_first_days_ending_with_this_month():
    months = alert_months(TODAY)
    assert len(months) == ALERT_MONTHS == 24
    assert months[0] == dt.date(2024, 4, 1) and months[-1] == dt.date(2026, 3, 1)
    assert all(m.day == 1 for m in months) and months == sorted(set(months))
    assert alert_months(dt.date(2026, 1, 31))[-2:] == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)]


def test_an_alert_counts_from_its_month_until_the_month_it_was_closed():
    months = alert_months(TODAY)
    spans = [
        (dt.date(2025, 11, 20), dt.date(2026, 1, 3), "warning", 2),  # Nov and Dec
        (dt.date(2019, 5, 1), None, "critical", 1),  # before the window, still open: every month
        (dt.date(2020, 1, 1), dt.date(2024, 2, 1), "critical", 5),  # closed before the window
        (dt.date(2026, 3, 2), dt.date(2026, 3, 30), "info", 1),  # opened and closed in March
        (dt.date(2026, 5, 1), None, "info", 1),  # evidence dated after today: not yet
        (dt.date(2025, 1, 1), None, "unknown", 9),  # not a severity shown
    ]
    out = open_by_month(spans, months)
    assert list(out) == months
    assert out[dt.date(2025, 10, 1)] == {"info": 0, "warning": 0, "critical": 1}
    assert out[dt.date(2025, 11, 1)]["warning"] == 2 and out[dt.date(2025, 12, 1)]["warning"] == 2
    assert out[dt.date(2026, 1, 1)]["warning"] == 0
    assert all(v["critical"] == 1 for v in out.values())
    assert all(v["info"] == 0 for v in out.values())
    assert out == by_definition(spans, months)


days = st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2027, 12, 31))
spans = st.lists(
    st.tuples(days, st.none() | days, st.sampled_from(["info", "warning", "critical", "other"]), st.integers(1, 50)),
    max_size=40,
)


@given(spans=spans, today=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 6, 30)))
def test_fold_equals_the_definition(spans, today):
    months = alert_months(today)
    assert open_by_month(spans, months) == by_definition(spans, months)
