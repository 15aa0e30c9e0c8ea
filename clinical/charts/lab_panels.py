"""Laboratory panels of the patient dashboard (pure): one panel per analyte group, with
reference lines, course marks (baseline, month 3/6/12) and hover text."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clinical import catalogue, formatting
from clinical.charts.common import (
    COLOURS,
    delta_text,
    fasting_word,
    iso,
    percent_text,
    shown,
    system_or_default,
    unit_for,
)
from clinical.charts.data import CourseSummary, LabPoint, MarkedPoint, PatientSeries

GAP_PX = 38  # room for the panel title between panels
TOP_PX = 44
BOTTOM_PX = 46
MARKED_ANALYTES = ("triglycerides", "hba1c")
MONTH_LABEL = {0: "B", 3: "M3", 6: "M6", 12: "M12"}
SEVERITIES = ("info", "warning", "critical")


@dataclass
class Panel:
    key: str
    title: str
    px: int
    axis: dict[str, Any] = field(default_factory=dict)
    traces: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)  # (y, label) reference lines
    notes: list[tuple[dt.date, str]] = field(default_factory=list)  # words at a date, top of panel
    overlay: dict[str, Any] | None = None  # a second y axis on the right (BMI)
    overlay_traces: list[dict[str, Any]] = field(default_factory=list)
    log: bool = False


def _hover(title: str, unit: str) -> str:
    return f"<b>{title}</b><br>%{{customdata[0]}} {unit}<br>%{{x|%d %b %Y}}<br>%{{customdata[1]}}<extra></extra>"


def _value_hover(title: str, unit: str, decimals: int, fasting: bool) -> str:
    """Hover of a value trace. The plotted y is already the formatter's rounded value, so
    printing it with the unit's decimals gives the same text as everywhere else."""
    line = "<br>%{customdata}" if fasting else ""
    return f"<b>{title}</b><br>%{{y:.{decimals}f}} {unit}<br>%{{x|%d %b %Y}}{line}<extra></extra>"


# Analytes whose hover and table say whether the sample was fasting.
FASTING_ANALYTES = ("triglycerides", "glucose")


def _lab_trace(analyte: str, points: list[LabPoint], system: str, *, name: str, colour: str, **style) -> dict:
    unit = unit_for(analyte, system)
    decimals = catalogue.ANALYTES[analyte].decimals_for(unit)
    fasting = analyte in FASTING_ANALYTES
    text = formatting.display_formatter(analyte, system_or_default(system))  # what shown() uses
    xs, ys, words = [], [], []
    for p in sorted(points, key=lambda p: p.on):
        xs.append(iso(p.on))
        ys.append(float(text(p.canonical)))
        if fasting:
            words.append(fasting_word(analyte, p.fasting))
    trace = {
        "type": "scatter",
        "name": name,
        "x": xs,
        "y": ys,
        "mode": "lines+markers",
        "line": {"color": colour, "width": 1.5},
        "marker": {"color": colour, "size": 5},
        "hovertemplate": _value_hover(name, unit, decimals, fasting),
        "meta": {"table": True, "series": name, "unit": unit, "decimals": decimals},
    }
    if fasting:
        trace["customdata"] = words
    trace.update(style)
    return trace


def _ratio_scale(analyte: str) -> bool:
    """A percent change means the same in every unit only without an offset (HbA1c in
    mmol/mol has one: its change is given in %-points or mmol/mol, never in percent)."""
    return all(u.offset == 0 for u in catalogue.ANALYTES[analyte].units)


def _marks_trace(analyte: str, summaries: list[CourseSummary], system: str) -> dict | None:
    """Baseline and month-3/6/12 values of every course, labelled B, M3, M6, M12."""
    name = catalogue.ANALYTES[analyte].name
    unit = unit_for(analyte, system)
    xs, ys, texts, custom = [], [], [], []
    for s in summaries:
        a = s.analytes.get(analyte)
        if a is None:
            continue
        marks: list[MarkedPoint] = ([a.baseline] if a.baseline else []) + [a.months[m] for m in sorted(a.months)]
        for mp in marks:
            y, text = shown(analyte, mp.canonical, system)
            label = MONTH_LABEL[mp.month]
            if mp.month == 0:
                note = f"baseline of the course from {iso(s.start)}"
            else:
                note = f"month {mp.month} of the course from {iso(s.start)}"
                if mp.change is not None:
                    change = delta_text(analyte, mp.change, system)
                    note += f": change {change} {unit}"
                    if mp.percent_change is not None and _ratio_scale(analyte):
                        note += f" ({percent_text(mp.percent_change)})"
                elif a.baseline is None:
                    note += ": no baseline, no change computed"
                if mp.month == 12 and s.provisional:
                    note += ", provisional"
                    label = "M12 (provisional)"
            xs.append(iso(mp.on))
            ys.append(y)
            texts.append(label)
            custom.append([text, note])
    if not xs:
        return None
    series = f"{name}: baseline and months 3/6/12"
    return {
        "type": "scatter",
        "name": series,
        "x": xs,
        "y": ys,
        "text": texts,
        "customdata": custom,
        "mode": "markers+text",
        "textposition": "top center",
        "textfont": {"size": 10, "color": COLOURS["marker"]},
        "cliponaxis": False,
        "marker": {"symbol": "diamond-open", "size": 11, "color": COLOURS["marker"], "line": {"width": 2}},
        "hovertemplate": _hover(f"{name} %{{text}}", unit),
        "meta": {"table": True, "series": series, "unit": unit},
    }


def log_ticks(values: list[float]) -> list[float]:
    """1-2-5 ticks over the decades the values span: Plotly's own log ticks label the
    minor ticks with a single digit ("9", "8") when the data span less than a decade."""
    positive = [v for v in values if v > 0]
    if not positive:
        return []
    lo = math.floor(math.log10(min(positive)))
    hi = math.ceil(math.log10(max(positive)))
    ticks = []
    for k in range(lo, hi + 1):
        for m in (1, 2, 5):
            ticks.append(float(Decimal(m).scaleb(k)))
    return ticks


def _lab_panels(series: PatientSeries, system: str) -> list[Panel]:
    labs = series.labs
    panels: list[Panel] = []
    lines = catalogue.DASHBOARD_LINES

    def ref_lines(analyte: str) -> list[tuple[float, str]]:
        out = []
        for line in lines.get(analyte, ()):
            y, text = shown(analyte, line.canonical, system)
            out.append((y, f"{text} {unit_for(analyte, system)} {line.label}"))
        return out

    def no_baseline_notes(analyte: str) -> list[tuple[dt.date, str]]:
        name = catalogue.ANALYTES[analyte].name
        return [(s.start, f"no baseline ({name})") for s in series.summaries if analyte in s.no_baseline]

    for analyte, px, log in (("triglycerides", 200, True), ("hba1c", 150, False)):
        points = labs.get(analyte) or []
        if not points:
            continue
        name = catalogue.ANALYTES[analyte].name
        unit = unit_for(analyte, system)
        panel = Panel(
            analyte,
            f"<b>{name}</b> {unit}" + (" · log scale" if log else ""),
            px,
            log=log,
            lines=ref_lines(analyte),
            notes=no_baseline_notes(analyte),
        )
        trace = _lab_trace(analyte, points, system, name=name, colour=COLOURS[analyte])
        panel.traces.append(trace)
        if log:
            ticks = log_ticks(trace["y"] + [y for y, _label in panel.lines])
            panel.axis = {"tickvals": ticks, "ticktext": [format(Decimal(str(t)).normalize(), "f") for t in ticks]}
        marks = _marks_trace(analyte, series.summaries, system)
        if marks:
            panel.traces.append(marks)
        panels.append(panel)

    glucose = labs.get("glucose") or []
    if glucose:
        unit = unit_for("glucose", system)
        panel = Panel("glucose", f"<b>Fasting glucose</b> {unit} · open circles: not fasting or unknown", 130)
        fasting = [p for p in glucose if p.fasting is True]
        other = [p for p in glucose if p.fasting is not True]
        if fasting:
            panel.traces.append(
                _lab_trace("glucose", fasting, system, name="Fasting glucose", colour=COLOURS["glucose"])
            )
        if other:
            panel.traces.append(
                _lab_trace(
                    "glucose",
                    other,
                    system,
                    name="Glucose, not fasting or unknown",
                    colour=COLOURS["glucose_other"],
                    mode="markers",
                    marker={"color": COLOURS["glucose_other"], "size": 6, "symbol": "circle-open"},
                )
            )
        panels.append(panel)

    leptin = labs.get("leptin") or []
    if leptin:
        panel = Panel("leptin", f"<b>Leptin</b> {unit_for('leptin', system)}", 110)
        panel.traces.append(_lab_trace("leptin", leptin, system, name="Leptin", colour=COLOURS["leptin"]))
        panels.append(panel)

    if labs.get("alt") or labs.get("ast"):
        panel = Panel("liver", "<b>ALT / AST</b> U/L · dotted: upper reference limit", 130)
        for analyte in ("alt", "ast"):
            points = labs.get(analyte) or []
            if not points:
                continue
            name = catalogue.ANALYTES[analyte].name.split(" (")[0]
            panel.traces.append(_lab_trace(analyte, points, system, name=name, colour=COLOURS[analyte]))
            uln = series.uln.get(analyte)
            if uln is not None:
                y, text = shown(analyte, uln, system)
                panel.lines.append((y, f"{name} ULN {text} {unit_for(analyte, system)}"))
        panels.append(panel)
    return panels
