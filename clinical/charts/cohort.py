"""The cohort dashboard's figures (pure: plain aggregates -> Figure).

For researchers every count below :data:`MIN_CELL` is suppressed: it reads "<5" and its
bar or cell is not drawn, and no figure carries a single patient's point (the waterfall
becomes a binned histogram). Clinicians see their own sites' patients one by one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from decimal import Decimal
from typing import Any

from clinical import catalogue
from clinical.charts.common import (
    RESPONSE_COLOURS,
    RESPONSE_LABELS,
    SEVERITY_COLOURS,
    base_layout,
    delta_text,
    percent_text,
    system_or_default,
    unit_for,
)
from clinical.charts.data import CohortData, ResponsePoint

# Small-cell rule for researcher views: counts 1-4 are shown as "<5" (statistical
# disclosure control; 5 is the usual minimum cell size of registry publications).
MIN_CELL = 5
SUPPRESSED = f"<{MIN_CELL}"
CLASS_ORDER = ("strong_responder", "responder", "non_responder", "insufficient_data", "provisional")
TG_BIN_PCT = 20  # width of a waterfall bin for researchers, percent
TG_BIN_MIN, TG_BIN_MAX = -100, 100  # changes above +100 % share the last bin
HBA1C_BIN = {catalogue.CONVENTIONAL: Decimal("0.5"), catalogue.SI: Decimal(5)}  # in the display unit


def suppress(n: int, researcher: bool) -> tuple[int | None, str]:
    """(count to draw, text to show): a researcher never sees a count below 5 (zero
    included: "no patient" is as telling as "one patient")."""
    if researcher and n < MIN_CELL:
        return None, SUPPRESSED
    return n, str(n)


def count_text(n: int, researcher: bool) -> str:
    return suppress(n, researcher)[1]


def _bar_counts(labels: list[str], counts: list[int], researcher: bool) -> tuple[list, list, list[dict]]:
    """(heights, texts, annotations) of a count bar chart: a suppressed bar is not drawn
    and "<5" is written on its base instead."""
    ys, texts, notes = [], [], []
    for label, n in zip(labels, counts, strict=True):
        value, text = suppress(n, researcher)
        ys.append(value)
        texts.append(text)
        if value is None:
            notes.append(
                {
                    "x": label,
                    "y": 0,
                    "xref": "x",
                    "yref": "y",
                    "yanchor": "bottom",
                    "text": text,
                    "showarrow": False,
                    "font": {"size": 11, "color": "#4b5563"},
                }
            )
    return ys, texts, notes


def _count_axis(ys: list) -> dict[str, Any]:
    top = max([y for y in ys if y is not None], default=0)
    axis: dict[str, Any] = {"title": {"text": "patients"}, "gridcolor": "#eef0f2", "rangemode": "tozero"}
    if top < MIN_CELL:
        axis["range"] = [0, MIN_CELL * 1.2]
    return axis


def _title(text: str) -> dict[str, Any]:
    return {"text": text, "x": 0, "xanchor": "left", "font": {"size": 14}}


def class_of(point: ResponsePoint) -> str:
    return "provisional" if point.provisional else point.response_class


def class_counts(responses: list[ResponsePoint]) -> dict[str, int]:
    counts = Counter(class_of(p) for p in responses)
    return {c: counts.get(c, 0) for c in CLASS_ORDER}


def subtype_site_figure(cohort: CohortData, *, researcher: bool) -> dict[str, Any]:
    """Patients by subtype (rows) and site (columns), with the count in each cell."""
    sites = sorted({s for s, _ in cohort.site_subtype})
    subtypes = sorted({t for _, t in cohort.site_subtype}, key=lambda t: (t == "", t))
    z, text = [], []
    for t in subtypes:
        row_z, row_t = [], []
        for s in sites:
            value, shown_text = suppress(cohort.site_subtype.get((s, t), 0), researcher)
            row_z.append(value or 0)  # a suppressed cell gets the colour of zero
            row_t.append(shown_text)
        z.append(row_z)
        text.append(row_t)
    labels = [t or "not recorded" for t in subtypes]
    fig = {
        "data": [
            {
                "type": "heatmap",
                "x": sites,
                "y": labels,
                "z": z,
                "text": text,
                "texttemplate": "%{text}",
                "colorscale": [[0, "#e0f2fe"], [1, "#0369a1"]],
                "showscale": False,
                "xgap": 2,
                "ygap": 2,
                "hovertemplate": "%{y} at %{x}: %{text} patients<extra></extra>",
                "name": "Patients by subtype and site",
            }
        ],
        "layout": base_layout(
            title=_title(f"Patients by subtype and site (N = {count_text(cohort.n_patients, researcher)})"),
            height=min(max(220, 70 + 24 * len(subtypes)), 900),
            margin={"l": 150, "r": 16, "t": 44, "b": 40},
            xaxis={"side": "bottom", "type": "category"},
            yaxis={"type": "category", "autorange": "reversed", "automargin": True},
        ),
    }
    return fig


def _bin_label(lo: int) -> str:
    if lo >= TG_BIN_MAX:
        return f"≥ +{TG_BIN_MAX}"
    return f"{lo:+d} to {lo + TG_BIN_PCT:+d}"


def tg_waterfall_figure(responses: list[ResponsePoint], *, researcher: bool) -> dict[str, Any]:
    """Triglyceride percent change at month 12 per treated patient, largest rise first;
    for researchers the same changes in 10 % bins, small bins suppressed."""
    points = [p for p in responses if p.tg_percent_change is not None]
    n = len(points)
    layout = base_layout(
        title=_title(f"Triglycerides at month 12, % change from baseline (N = {count_text(n, researcher)})"),
        height=320,
        margin={"l": 60, "r": 16, "t": 44, "b": 60},
        yaxis={"title": {"text": "% change"}, "zeroline": True, "zerolinecolor": "#9ca3af", "gridcolor": "#eef0f2"},
        showlegend=not researcher,
        legend={"orientation": "h", "y": -0.18},
        bargap=0.1 if researcher else 0.02,
    )
    if not researcher:
        ordered = sorted(points, key=lambda p: -(p.tg_percent_change or 0))
        data = []
        for cls in CLASS_ORDER:
            idx = [i for i, p in enumerate(ordered) if class_of(p) == cls]
            if not idx:
                continue
            data.append(
                {
                    "type": "bar",
                    "name": RESPONSE_LABELS[cls],
                    "x": [i + 1 for i in idx],
                    "y": [round(ordered[i].tg_percent_change or 0, 1) for i in idx],
                    "customdata": [[ordered[i].label, percent_text(ordered[i].tg_percent_change)] for i in idx],
                    "marker": {"color": RESPONSE_COLOURS[cls]},
                    "hovertemplate": "%{customdata[0]}: %{customdata[1]}<br>"
                    + RESPONSE_LABELS[cls]
                    + "<extra></extra>",
                }
            )
        layout["xaxis"] = {"title": {"text": "treated patients, ordered by change"}, "showticklabels": False}
        layout["barmode"] = "overlay"
        return {"data": data, "layout": layout}
    bins: Counter[int] = Counter()
    for p in points:
        v = max(min(float(p.tg_percent_change or 0), TG_BIN_MAX), TG_BIN_MIN)
        bins[min(int(math.floor(v / TG_BIN_PCT) * TG_BIN_PCT), TG_BIN_MAX)] += 1
    edges = list(range(TG_BIN_MIN, TG_BIN_MAX + 1, TG_BIN_PCT))
    labels = [_bin_label(lo) for lo in edges]
    ys, texts, notes = _bar_counts(labels, [bins.get(lo, 0) for lo in edges], True)
    layout["xaxis"] = {
        "type": "category",
        "tickangle": -45,
        "automargin": True,
        "title": {"text": f"% change ({TG_BIN_PCT} % bins)", "standoff": 12},
    }
    layout["yaxis"] = _count_axis(ys)
    layout["annotations"] = notes
    return {
        "data": [
            {
                "type": "bar",
                "name": "Patients",
                "x": labels,
                "y": ys,
                "text": texts,
                "textposition": "outside",
                "cliponaxis": False,
                "marker": {"color": "#64748b"},
                "hovertemplate": "%{x}: %{text} patients<extra></extra>",
            }
        ],
        "layout": layout,
    }


def hba1c_change_figure(responses: list[ResponsePoint], *, researcher: bool, system: str) -> dict[str, Any]:
    """Distribution of the HbA1c change at month 12 in the user's unit (bins of 0.5
    %-points or 5 mmol/mol)."""
    system = system_or_default(system)
    unit = unit_for("hba1c", system)
    width = HBA1C_BIN[system]
    changes = [Decimal(str(p.hba1c_change)) for p in responses if p.hba1c_change is not None]
    counts: Counter[Decimal] = Counter()
    for c in changes:
        shown_change = Decimal(delta_text("hba1c", c, system))
        counts[(shown_change / width).to_integral_value(rounding="ROUND_FLOOR") * width] += 1
    lows = sorted(counts)
    if lows:
        steps = int((lows[-1] - lows[0]) / width)
        lows = [lows[0] + width * i for i in range(steps + 1)]
    labels = [f"{_fmt(lo)} to {_fmt(lo + width)}" for lo in lows]
    ys, texts, notes = _bar_counts(labels, [counts.get(lo, 0) for lo in lows], researcher)
    n = len(changes)
    return {
        "data": [
            {
                "type": "bar",
                "name": "Patients",
                "x": labels,
                "y": ys,
                "text": texts,
                "textposition": "outside",
                "cliponaxis": False,
                "marker": {"color": "#1d4ed8"},
                "hovertemplate": "%{x} " + unit + ": %{text} patients<extra></extra>",
                "meta": {"unit": unit},
            }
        ],
        "layout": base_layout(
            title=_title(f"HbA1c change at month 12, {unit} (N = {count_text(n, researcher)})"),
            height=320,
            margin={"l": 60, "r": 16, "t": 44, "b": 80},
            xaxis={
                "type": "category",
                "tickangle": -45,
                "automargin": True,
                "title": {"text": f"change ({unit})", "standoff": 12},
            },
            yaxis=_count_axis(ys),
            annotations=notes,
            bargap=0.1,
            meta={"system": system},
        ),
    }


def _fmt(value: Decimal) -> str:
    return ("+" if value > 0 else "") + format(value.normalize(), "f") if value != 0 else "0"


def response_class_figure(responses: list[ResponsePoint], *, researcher: bool) -> dict[str, Any]:
    counts = class_counts(responses)
    xs = [RESPONSE_LABELS[c] for c in CLASS_ORDER]
    ys, texts, notes = _bar_counts(xs, [counts[c] for c in CLASS_ORDER], researcher)
    n = sum(counts.values())
    return {
        "data": [
            {
                "type": "bar",
                "name": "Courses",
                "x": xs,
                "y": ys,
                "text": texts,
                "textposition": "outside",
                "cliponaxis": False,
                "marker": {"color": [RESPONSE_COLOURS[c] for c in CLASS_ORDER]},
                "hovertemplate": "%{x}: %{text} patients<extra></extra>",
            }
        ],
        "layout": base_layout(
            title=_title(f"Metreleptin response at month 12 (N = {count_text(n, researcher)})"),
            height=320,
            margin={"l": 60, "r": 16, "t": 44, "b": 60},
            xaxis={"type": "category"},
            yaxis=_count_axis(ys),
            annotations=notes,
        ),
    }


def open_alerts_figure(open_alerts: dict[dt.date, dict[str, int]], *, researcher: bool) -> dict[str, Any]:
    """Open alerts at the end of each month, by severity (researchers: counts below 5
    are left out of the lines)."""
    months = sorted(open_alerts)
    data = []
    for sev in ("critical", "warning", "info"):
        ys, texts = [], []
        for m in months:
            value, text = suppress(open_alerts[m].get(sev, 0), researcher)
            ys.append(value)
            texts.append(text)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": {"size": 4},
                "name": sev.capitalize(),
                "x": [m.isoformat() for m in months],
                "y": ys,
                "text": texts,
                "line": {"color": SEVERITY_COLOURS[sev], "width": 2, "shape": "hv"},
                "connectgaps": False,
                "hovertemplate": sev.capitalize() + ": %{text} open at the end of %{x|%b %Y}<extra></extra>",
            }
        )
    note = " (counts below 5 not shown)" if researcher else ""
    return {
        "data": data,
        "layout": base_layout(
            title=_title("Open alerts by severity, month by month" + note),
            height=300,
            margin={"l": 60, "r": 16, "t": 44, "b": 40},
            xaxis={"type": "date", "gridcolor": "#eef0f2"},
            yaxis={"title": {"text": "open alerts"}, "gridcolor": "#eef0f2", "rangemode": "tozero"},
            legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
            hovermode="x unified",
        ),
    }
