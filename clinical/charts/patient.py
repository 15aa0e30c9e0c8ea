"""The patient dashboard: stacked panels over one time axis (pure: plain data -> Figure).

Panels, top to bottom, each only when it has something to show: triglycerides (log
scale, reference lines), HbA1c (target), fasting glucose, leptin, ALT/AST (upper
reference limit), weight/BMI, the metreleptin daily dose (step line), other treatment
courses (bars) and alerts (markers). Metreleptin exposure is shaded across every panel;
each course's baseline and month-3/6/12 values are marked on the HbA1c and triglyceride
panels, and a missing baseline or a provisional month-12 class is said in words.
"""

from __future__ import annotations

import html
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clinical.charts.common import (
    COLOURS,
    SEVERITY_COLOURS,
    base_layout,
    iso,
    system_or_default,
)
from clinical.charts.data import PatientSeries
from clinical.charts.lab_panels import (
    BOTTOM_PX,
    GAP_PX,
    SEVERITIES,
    TOP_PX,
    Panel,
    _lab_panels,
    _value_hover,
)


def _weight_panel(series: PatientSeries) -> Panel | None:
    if not series.weights:
        return None
    pts = sorted(series.weights, key=lambda w: w.on)
    panel = Panel("weight", "<b>Weight</b> kg · <b>BMI</b> kg/m² (right axis)", 120)
    panel.traces.append(
        {
            "type": "scatter",
            "name": "Weight",
            "x": [iso(w.on) for w in pts],
            "y": [float(w.kg.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) for w in pts],
            "mode": "lines+markers",
            "line": {"color": COLOURS["weight"], "width": 1.5},
            "marker": {"size": 5, "color": COLOURS["weight"]},
            "hovertemplate": _value_hover("Weight", "kg", 1, False),
            "meta": {"table": True, "series": "Weight", "unit": "kg", "decimals": 1},
        }
    )
    bmi = [w for w in pts if w.bmi is not None]
    if bmi:
        panel.overlay = {
            "title": {"text": "BMI"},
            "side": "right",
            "showgrid": False,
            "zeroline": False,
            "tickformat": ".1f",
        }
        panel.overlay_traces.append(
            {
                "type": "scatter",
                "name": "BMI",
                "x": [iso(w.on) for w in bmi],
                "y": [float(w.bmi) for w in bmi],  # type: ignore[arg-type]
                "mode": "lines+markers",
                "line": {"color": COLOURS["bmi"], "width": 1, "dash": "dot"},
                "marker": {"size": 4, "color": COLOURS["bmi"], "symbol": "square"},
                "hovertemplate": _value_hover("BMI", "kg/m²", 1, False),
                "meta": {"table": True, "series": "BMI", "unit": "kg/m²", "decimals": 1},
            }
        )
    return panel


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _dose_panel(series: PatientSeries) -> Panel | None:
    courses = [c for c in series.courses if c.is_metreleptin]
    if not courses:
        return None
    xs: list[str | None] = []
    ys: list[float | None] = []
    custom: list[list[str] | None] = []
    unit = "mg/day"
    for c in sorted(courses, key=lambda c: c.start):
        doses = sorted(c.doses, key=lambda d: d.on)
        if not doses:
            continue
        unit = doses[0].unit
        for d in doses:
            xs.append(iso(d.on))
            ys.append(float(d.dose))
            per_kg = f"{_num(d.per_kg)} {d.per_kg_unit}" if d.per_kg is not None else "no weight for mg/kg/day"
            custom.append([_num(d.dose), per_kg])
        last = doses[-1]
        until = c.end or series.today
        if until > last.on:
            xs.append(iso(until))
            ys.append(float(last.dose))
            custom.append([_num(last.dose), "course end" if c.end else "today, ongoing"])
        xs.append(None)
        ys.append(None)
        custom.append(None)
    panel = Panel("dose", "<b>Metreleptin</b> daily dose · shaded: on metreleptin", 100)
    panel.axis = {"rangemode": "tozero"}
    if xs:
        panel.traces.append(
            {
                "type": "scatter",
                "name": "Metreleptin daily dose",
                "x": xs,
                "y": ys,
                "customdata": custom,
                "mode": "lines+markers",
                "line": {"shape": "hv", "color": COLOURS["dose"], "width": 2},
                "marker": {"size": 5, "color": COLOURS["dose"]},
                "connectgaps": False,
                "hovertemplate": "<b>Metreleptin</b><br>%{customdata[0]} "
                + unit
                + "<br>%{customdata[1]}<br>from %{x|%d %b %Y}<extra></extra>",
                "meta": {"table": True, "series": "Metreleptin daily dose", "unit": unit},
            }
        )
    return panel


def _other_courses_panel(series: PatientSeries) -> Panel | None:
    courses = sorted((c for c in series.courses if not c.is_metreleptin), key=lambda c: c.start)
    if not courses:
        return None
    names = list(dict.fromkeys(c.name for c in courses))
    panel = Panel("courses", "<b>Other treatments</b>", 40 + 22 * len(names))
    panel.axis = {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": names,
        "range": [len(names) - 0.4, -0.6],  # first course on top, room above and below
        "showgrid": False,
    }
    xs: list[str | None] = []
    ys: list[str | None] = []
    custom: list[list[str] | None] = []
    for c in courses:
        doses = sorted(c.doses, key=lambda d: d.on)
        dose = f"{_num(doses[-1].dose)} {doses[-1].unit}" if doses else "no dose recorded"
        first = f"{_num(doses[0].dose)} {doses[0].unit}" if doses else dose
        end = c.end or series.today
        xs += [iso(c.start), iso(end), None]
        ys += [c.name, c.name, None]
        custom += [[first, "start"], [dose, "end" if c.end else "today, ongoing"], None]
    panel.traces.append(
        {
            "type": "scatter",
            "name": "Other treatments",
            "x": xs,
            "y": ys,
            "customdata": custom,
            "mode": "lines",
            "line": {"color": COLOURS["course"], "width": 12},
            "connectgaps": False,
            "hovertemplate": "<b>%{y}</b><br>%{customdata[1]} %{x|%d %b %Y}<br>%{customdata[0]}<extra></extra>",
            "meta": {"table": True, "series": "Other treatments", "unit": ""},
        }
    )
    return panel


def _wrap(message: str, width: int = 60) -> str:
    """The message escaped and broken into lines of about ``width`` characters (a hover
    label does not wrap by itself); cheaper than textwrap for hundreds of alerts."""
    lines: list[str] = []
    line = ""
    for word in html.escape(message).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "<br>".join(lines)


def _alerts_panel(series: PatientSeries, system: str) -> Panel | None:
    if not series.alerts:
        return None
    panel = Panel("alerts", "<b>Alerts</b> (withdrawn alerts are not shown)", 90)
    labels = [s.capitalize() for s in SEVERITIES]
    panel.axis = {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": labels,
        "range": [-0.6, len(labels) - 0.4],
        "showgrid": False,
    }
    for sev in SEVERITIES:
        marks = sorted((a for a in series.alerts if a.severity == sev), key=lambda a: a.on)
        if not marks:
            continue
        label = sev.capitalize()
        panel.traces.append(
            {
                "type": "scatter",
                "name": f"{label} alerts",
                "x": [iso(a.on) for a in marks],
                "y": [label] * len(marks),
                "customdata": [[a.rule, _wrap(a.messages.get(system, ""))] for a in marks],
                "mode": "markers",
                "marker": {
                    "color": SEVERITY_COLOURS[sev],
                    "size": 10,
                    "symbol": {"info": "circle", "warning": "triangle-up", "critical": "x"}[sev],
                    "line": {"width": 1, "color": "#ffffff"},
                },
                "hovertemplate": f"<b>{label}</b> %{{customdata[0]}}<br>%{{customdata[1]}}"
                "<br>%{x|%d %b %Y}<extra></extra>",
                "meta": {"table": True, "series": f"{label} alert", "unit": ""},
            }
        )
    return panel


def _bands(series: PatientSeries, top: float, dose_panel_bottom: float | None) -> tuple[list[dict], list[dict]]:
    """Shaded metreleptin exposure over every panel, with its words (provisional) above
    the dose panel."""
    shapes, notes = [], []
    provisional = {s.start: s.provisional for s in series.summaries}
    for c in series.courses:
        if not c.is_metreleptin:
            continue
        end = c.end or series.today
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": iso(c.start),
                "x1": iso(end),
                "y0": 0,
                "y1": top,
                "fillcolor": COLOURS["band"],
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if dose_panel_bottom is not None:
            text = "metreleptin" + (" · month 12 provisional" if provisional.get(c.start) else "")
            notes.append(
                {
                    "xref": "x",
                    "yref": "paper",
                    "x": iso(c.start),
                    "y": dose_panel_bottom,
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "text": text,
                    "showarrow": False,
                    "font": {"size": 10, "color": COLOURS["dose"]},
                }
            )
    return shapes, notes


RANGE_BUTTONS = [
    {"count": 1, "label": "1 y", "step": "year", "stepmode": "backward"},
    {"count": 5, "label": "5 y", "step": "year", "stepmode": "backward"},
    {"step": "all", "label": "All"},
]


def patient_dashboard_figure(series: PatientSeries, system: str) -> dict[str, Any]:
    """The stacked panels of one patient in ``system`` ("conventional" or "si"), as the
    figure dict plotly.js draws (see ``clinical.charts`` on why a dict)."""
    system = system_or_default(system)
    panels = _lab_panels(series, system)
    for extra in (_weight_panel(series), _dose_panel(series), _other_courses_panel(series)):
        if extra is not None:
            panels.append(extra)
    alerts = _alerts_panel(series, system)
    if alerts is not None:
        panels.append(alerts)

    plot_px = sum(p.px for p in panels) + GAP_PX * max(len(panels) - 1, 0)
    layout = base_layout(
        height=max(plot_px, 1) + TOP_PX + BOTTOM_PX,
        margin={"l": 64, "r": 56, "t": TOP_PX, "b": BOTTOM_PX},
        showlegend=False,
        hovermode="closest",
        uirevision="patient-dashboard",  # a unit switch keeps the chosen time range
        meta={"system": system},
    )
    data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    used = 0
    n_axes = 0
    bottom_axis = "y"
    dose_bottom = None
    for panel in panels:
        n_axes += 1
        axis_id = "y" if n_axes == 1 else f"y{n_axes}"
        top = 1 - used / plot_px
        bottom = top - panel.px / plot_px
        used += panel.px + GAP_PX
        bottom_axis = axis_id
        if panel.key == "dose":
            dose_bottom = max(bottom, 0)
        axis = {
            "domain": [max(bottom, 0), min(top, 1)],
            "anchor": "x",
            "gridcolor": "#eef0f2",
            "zeroline": False,
            "automargin": True,
            "fixedrange": True,  # zoom in time only; values stay readable
        }
        if panel.log:
            axis["type"] = "log"
        axis.update(panel.axis)
        layout["yaxis" if n_axes == 1 else f"yaxis{n_axes}"] = axis
        annotations.append(
            {
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": min(top, 1),
                "xanchor": "left",
                "yanchor": "bottom",
                "text": panel.title,
                "showarrow": False,
                "font": {"size": 12},
            }
        )
        for trace in panel.traces:
            data.append({**trace, "xaxis": "x", "yaxis": axis_id})
        for i, (y, label) in enumerate(panel.lines):
            shapes.append(
                {
                    "type": "line",
                    "xref": "x domain",
                    "x0": 0,
                    "x1": 1,
                    "yref": axis_id,
                    "y0": y,
                    "y1": y,
                    "line": {"color": COLOURS["line"], "width": 1, "dash": "dot"},
                    "layer": "below",
                }
            )
            annotations.append(
                {
                    "xref": "x domain",
                    "x": 1,
                    "xanchor": "right",
                    "yref": axis_id,
                    # annotations on a log axis take log10 of the value; shapes take the value
                    "y": math.log10(y) if panel.log and y > 0 else y,
                    # close lines (ALT and AST limits) get their labels above and below
                    "yanchor": "top" if i % 2 else "bottom",
                    "text": label,
                    "showarrow": False,
                    "bgcolor": "rgba(255,255,255,0.75)",  # readable where a series crosses it
                    "font": {"size": 10, "color": "#6b7280"},
                }
            )
        for day, words in panel.notes:
            annotations.append(
                {
                    "xref": "x",
                    "x": iso(day),
                    "xanchor": "left",
                    "yref": f"{axis_id} domain",
                    "y": 1,
                    "yanchor": "top",
                    "text": words,
                    "showarrow": False,
                    "bgcolor": "rgba(255,255,255,0.85)",
                    "font": {"size": 11, "color": "#b91c1c"},
                }
            )
        if panel.overlay is not None:
            n_axes += 1
            over_id = f"y{n_axes}"
            layout[f"yaxis{n_axes}"] = {**panel.overlay, "overlaying": axis_id, "anchor": "x", "fixedrange": True}
            for trace in panel.overlay_traces:
                data.append({**trace, "xaxis": "x", "yaxis": over_id})
    band_shapes, band_notes = _bands(series, 1.0, dose_bottom)
    layout["xaxis"] = {
        "type": "date",
        "anchor": bottom_axis,
        "domain": [0, 1],
        "gridcolor": "#eef0f2",
        "showline": True,
        "linecolor": "#9ca3af",
        "showspikes": True,
        "spikemode": "across",
        "spikesnap": "cursor",
        "spikethickness": 1,
        "spikecolor": "#9ca3af",
        "rangeselector": {
            "buttons": RANGE_BUTTONS,
            "x": 1,
            "xanchor": "right",
            "y": 1,
            "yanchor": "bottom",
            "bgcolor": "#eef2f7",
            "activecolor": "#c7d2fe",
        },
    }
    layout["shapes"] = band_shapes + shapes
    layout["annotations"] = annotations + band_notes
    return {"data": data, "layout": layout}
