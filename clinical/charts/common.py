"""Helpers shared by the figure functions: unit display, colours, the table rows.

Every number a figure shows as text goes through :func:`shown` (the registry's display
formatter), so a hover label reads exactly like the chart page and the alert message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from clinical import catalogue, formatting

# A light template of our own: Plotly's default template adds about 6 kB to every figure.
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#1f2933"}
GRID = "#e4e7eb"
COLOURS = {
    "triglycerides": "#b45309",
    "hba1c": "#1d4ed8",
    "glucose": "#0f766e",
    "glucose_other": "#5eaaa8",
    "leptin": "#7c3aed",
    "alt": "#be123c",
    "ast": "#9d174d",
    "weight": "#374151",
    "bmi": "#6b7280",
    "dose": "#15803d",
    "course": "#64748b",
    "marker": "#111827",
    "band": "rgba(22, 163, 74, 0.10)",
    "line": "#9ca3af",
}
SEVERITY_COLOURS = {"info": "#2563eb", "warning": "#d97706", "critical": "#b91c1c"}
RESPONSE_COLOURS = {
    "strong_responder": "#15803d",
    "responder": "#65a30d",
    "non_responder": "#b91c1c",
    "insufficient_data": "#9ca3af",
    "provisional": "#a78bfa",
}
RESPONSE_LABELS = {
    "strong_responder": "Strong responder",
    "responder": "Responder",
    "non_responder": "Non-responder",
    "insufficient_data": "Insufficient data",
    "provisional": "Provisional",
}
# No mode bar: its icons sat on the range selector, and the time range has its own buttons.
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


def base_layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "none",
        "font": FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hoverlabel": {"align": "left"},
    }
    layout.update(extra)
    return layout


def system_or_default(system: str) -> str:
    return system if system in catalogue.UNIT_SYSTEMS else catalogue.CONVENTIONAL


def unit_for(analyte: str, system: str) -> str:
    return catalogue.ANALYTES[analyte].display_unit(system_or_default(system)).unit


def shown(analyte: str, canonical: Decimal, system: str) -> tuple[float, str]:
    """(number to plot, text to show) of one canonical value in ``system``: the plotted
    number is the formatter's text, so the axis, the hover and the table agree."""
    text = formatting.display_formatter(analyte, system_or_default(system))(canonical)
    return float(text), text


def delta_text(analyte: str, delta: Decimal, system: str) -> str:
    """A difference of two canonical values in ``system`` (factor only: an offset such as
    HbA1c's IFCC one cancels out), with the analyte's precision in that unit and a sign."""
    conv = formatting.display_conversion(analyte, system_or_default(system))
    text = formatting.format_value(Decimal(delta) / conv.factor, analyte=analyte, unit=conv.unit)
    if text.lstrip("-").strip("0.") == "":
        return text.lstrip("-")  # no "-0.0"
    return text if text.startswith("-") else "+" + text


def percent_text(value: Decimal | float | None) -> str:
    if value is None:
        return ""
    text = formatting.format_number(Decimal(str(value)), 0)
    if text in ("0", "-0"):
        return "0 %"
    return (text if text.startswith("-") else "+" + text) + " %"


def iso(day: dt.date) -> str:
    return day.isoformat()


def fasting_word(analyte: str, fasting: bool | None) -> str:
    if fasting is True:
        return "fasting"
    if fasting is False:
        return "not fasting"
    return "fasting unknown" if analyte in ("triglycerides", "glucose") else ""


TABLE_COLUMNS = ("series", "date", "value", "unit", "note")


def table_rows(figure: dict[str, Any]) -> list[dict[str, str]]:
    """Exactly the plotted points of the traces marked for the table (``meta.table``), as
    rows of :data:`TABLE_COLUMNS`; the CSV download and the page's data table (built in
    ``static/js/dashboards.js`` from the same figure) both use this shape.

    A value trace (``meta.decimals``) plots the formatter's rounded value as y and keeps
    the fasting word, if any, in ``customdata``; other traces carry ``[value, note]``
    pairs in ``customdata``."""
    rows = []
    for trace in figure.get("data", []):
        meta = trace.get("meta") or {}
        if not meta.get("table"):
            continue
        xs = trace.get("x") or []
        ys = trace.get("y") or []
        custom = trace.get("customdata") or []
        decimals = meta.get("decimals")
        for i, x in enumerate(xs):
            if x is None:
                continue
            cd = custom[i] if i < len(custom) else None
            if decimals is not None:
                value, note = f"{ys[i]:.{decimals}f}", (cd or "")
            else:
                value, note = (cd[0], cd[1]) if cd else ("", "")
            rows.append(
                {
                    "series": meta.get("series", trace.get("name", "")),
                    "date": str(x),
                    "value": str(value),
                    "unit": meta.get("unit", ""),
                    "note": str(note),
                }
            )
    return rows
