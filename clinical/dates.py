"""The one way a calendar date reads on every surface: "12 Nov 2026" (pure: no database).

Pages use Django's ``date:"j M Y"`` filter, which gives the same text; Python code that
builds a sentence (alert messages, evidence links, the change history, form errors) calls
:func:`human_date` so that a date never reads "2026-11-12" in one place and
"12 Nov 2026" in the next. Machine surfaces (API fields, CSV columns) stay ISO 8601.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["MONTHS", "human_date", "human_datetime"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def human_date(value: dt.date | str | None, *, unknown: str = "unknown date") -> str:
    """``2026-11-12`` (a date or its ISO text) -> "12 Nov 2026"; None or "" -> ``unknown``.

    Text that is not an ISO date is returned as it is: a stored message parameter written
    by an older release still reads, just not reformatted.
    """
    if value is None or value == "":
        return unknown
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = value.date()
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def human_datetime(value: dt.datetime) -> str:
    """A moment in the same style, to the minute: "12 Nov 2026 14:05"."""
    return f"{human_date(value)} {value:%H:%M}"
