"""The dashboard figure functions, without the database: panels, axes, bands, reference
lines, markers and unit conversion asserted on the figure dict; the response summary and
the provisional month-12 rule as pure functions."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal as D

import pytest

from clinical import catalogue, trends
from clinical.charts import (
    hba1c_change_figure,
    open_alerts_figure,
    patient_dashboard_figure,
    response_class_figure,
    subtype_site_figure,
    suppress,
    table_rows,
    tg_waterfall_figure,
)
from clinical.charts.data import (
    AlertMark,
    CohortData,
    CourseSpan,
    DoseStep,
    LabPoint,
    PatientSeries,
    ResponsePoint,
    WeightPoint,
)
from clinical.charts.lab_panels import log_ticks
from clinical.selectors.dashboard import course_summary, summary_display

START = dt.date(2023, 1, 10)
TODAY = dt.date(2024, 6, 1)
MGDL = D("0.01129")


def tg(mgdl: int) -> D:
    return D(mgdl) * MGDL


def series(*, baseline: bool = True, today: dt.date = TODAY) -> PatientSeries:
    """A strong responder: TG 1000 -> 400 mg/dL and HbA1c 9.0 -> 6.5 % at month 12."""
    tg_points = [
        (START - dt.timedelta(days=200), 900),
        (START + dt.timedelta(days=91), 700),
        (START + dt.timedelta(days=366), 400),
    ]
    hba1c_points = [(START + dt.timedelta(days=91), "8.0"), (START + dt.timedelta(days=366), "6.5")]
    if baseline:
        tg_points.append((START - dt.timedelta(days=5), 1000))
        hba1c_points.append((START - dt.timedelta(days=5), "9.0"))
    labs = {
        "triglycerides": [LabPoint(d, tg(v), fasting=True) for d, v in tg_points],
        "hba1c": [LabPoint(d, D(v)) for d, v in hba1c_points],
        "glucose": [LabPoint(START, D("7.0"), True), LabPoint(START + dt.timedelta(days=30), D("9.0"), None)],
        "alt": [LabPoint(START, D(50))],
    }
    points = {a: [trends.Point(p.on, p.canonical) for p in pts] for a, pts in labs.items()}
    s = PatientSeries(
        label="LD-000001",
        sex="female",
        today=today,
        labs=labs,
        weights=[WeightPoint(START, D("50.0"), D("19.5"))],
        courses=[
            CourseSpan(
                "metreleptin",
                "Metreleptin",
                START,
                None,
                (
                    DoseStep(START, D("5"), "mg/day", D("0.100"), "mg/kg/day"),
                    DoseStep(START + dt.timedelta(days=60), D("7.5"), "mg/day", D("0.150"), "mg/kg/day"),
                ),
            ),
            CourseSpan(
                "insulin",
                "Insulin (any)",
                dt.date(2020, 1, 1),
                dt.date(2023, 6, 1),
                (DoseStep(dt.date(2020, 1, 1), D(40), "U/day"),),
            ),
        ],
        alerts=[
            AlertMark(START, "critical", "TG_SEVERE", {"conventional": "TG 1000 mg/dL", "si": "TG 11.29 mmol/L"}),
        ],
        uln={"alt": D(33)},
    )
    s.summaries = [course_summary(start=START, end=None, series=points, today=today)]
    return s


def by_name(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def axis_of(fig: dict, trace: dict) -> dict:
    y = trace["yaxis"]
    return fig["layout"]["yaxis" if y == "y" else "yaxis" + y[1:]]


def test_panels_share_one_time_axis_with_range_selector():
    fig = patient_dashboard_figure(series(), "conventional")
    assert {t["xaxis"] for t in fig["data"]} == {"x"}
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["type"] == "date"
    assert [b["label"] for b in xaxis["rangeselector"]["buttons"]] == ["1 y", "5 y", "All"]
    assert [b["step"] for b in xaxis["rangeselector"]["buttons"]] == ["year", "year", "all"]
    # panels stacked top to bottom without overlap
    domains = sorted(
        (fig["layout"][k]["domain"] for k in fig["layout"] if k.startswith("yaxis") and "domain" in fig["layout"][k]),
        reverse=True,
    )
    for upper, lower in zip(domains, domains[1:], strict=False):
        assert lower[1] <= upper[0]
    titles = [a["text"] for a in fig["layout"]["annotations"] if a.get("yref") == "paper" and a.get("x") == 0]
    assert titles[0].startswith("<b>Triglycerides</b> mg/dL · log scale")
    assert any("HbA1c" in t for t in titles) and any("Fasting glucose" in t for t in titles)
    assert any("ALT / AST" in t for t in titles) and any("Weight" in t for t in titles)
    assert any("Metreleptin" in t for t in titles) and any("Other treatments" in t for t in titles)
    assert any("Alerts" in t for t in titles)


def test_triglycerides_log_scale_and_lines_in_both_systems():
    for system, expected, unit in (
        ("conventional", [150.0, 500.0, 1000.0], "mg/dL"),
        ("si", [1.69, 5.65, 11.29], "mmol/L"),
    ):
        fig = patient_dashboard_figure(series(), system)
        t = by_name(fig, "Triglycerides")
        axis = axis_of(fig, t)
        assert axis["type"] == "log"
        lines = sorted(s["y0"] for s in fig["layout"]["shapes"] if s["type"] == "line" and s["yref"] == t["yaxis"])
        assert lines == expected
        assert unit in t["hovertemplate"] and t["meta"]["unit"] == unit
        # log-axis annotations take log10 of the value
        labels = [a for a in fig["layout"]["annotations"] if a.get("yref") == t["yaxis"] and "very high" in a["text"]]
        assert labels and abs(labels[0]["y"] - math.log10(expected[1])) < 1e-9


def test_unit_conversion_of_plotted_values_and_hover_text():
    conv = patient_dashboard_figure(series(), "conventional")
    si = patient_dashboard_figure(series(), "si")
    tg_c, tg_s = by_name(conv, "Triglycerides"), by_name(si, "Triglycerides")
    i = tg_c["x"].index((START - dt.timedelta(days=5)).isoformat())
    assert tg_c["y"][i] == 1000.0 and tg_c["customdata"][i] == "fasting"
    assert tg_s["y"][i] == 11.29 and tg_s["meta"]["decimals"] == 2 and tg_c["meta"]["decimals"] == 0
    h_c, h_s = by_name(conv, "HbA1c"), by_name(si, "HbA1c")
    j = h_c["x"].index((START - dt.timedelta(days=5)).isoformat())
    assert h_c["y"][j] == 9.0
    assert h_s["y"][j] == 75.0  # (9.0 - 2.15) / 0.0915 = 74.86 -> 75 mmol/mol
    target = [s["y0"] for s in si["layout"]["shapes"] if s["type"] == "line" and s["yref"] == h_s["yaxis"]]
    assert target == [53.0]  # 7 % in mmol/mol
    assert [s["y0"] for s in conv["layout"]["shapes"] if s["type"] == "line" and s["yref"] == h_c["yaxis"]] == [7.0]
    assert "%{y:.0f} mg/dL" in tg_c["hovertemplate"] and "%{customdata}" in tg_c["hovertemplate"]
    assert "%{y:.2f} mmol/L" in tg_s["hovertemplate"] and "%{x|%d %b %Y}" in tg_s["hovertemplate"]
    assert "%{y:.0f} mmol/mol" in h_s["hovertemplate"] and "customdata" not in h_s["hovertemplate"]


def test_fasting_glucose_panel_separates_non_fasting_values():
    fig = patient_dashboard_figure(series(), "si")
    fasting = by_name(fig, "Fasting glucose")
    other = by_name(fig, "Glucose, not fasting or unknown")
    assert fasting["y"] == [7.0] and fasting["customdata"] == ["fasting"]
    assert other["y"] == [9.0] and other["customdata"] == ["fasting unknown"]
    assert other["marker"]["symbol"] == "circle-open"


def test_liver_panel_has_upper_reference_limit_line():
    fig = patient_dashboard_figure(series(), "conventional")
    alt = by_name(fig, "ALT")
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line" and s["yref"] == alt["yaxis"]]
    assert [s["y0"] for s in lines] == [33.0]
    assert any("ALT ULN 33 U/L" in a["text"] for a in fig["layout"]["annotations"])


def test_metreleptin_band_dose_step_line_and_other_courses():
    fig = patient_dashboard_figure(series(), "conventional")
    bands = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
    assert len(bands) == 1
    assert bands[0]["x0"] == START.isoformat() and bands[0]["x1"] == TODAY.isoformat()  # ongoing: until today
    assert bands[0]["yref"] == "paper" and bands[0]["layer"] == "below"
    dose = by_name(fig, "Metreleptin daily dose")
    assert dose["line"]["shape"] == "hv"
    assert dose["y"][:3] == [5.0, 7.5, 7.5] and dose["x"][2] == TODAY.isoformat()
    assert dose["customdata"][0] == ["5", "0.1 mg/kg/day"]
    assert "mg/day" in dose["hovertemplate"] and "%{customdata[1]}" in dose["hovertemplate"]
    other = by_name(fig, "Other treatments")
    assert other["y"][:2] == ["Insulin (any)", "Insulin (any)"]
    assert other["x"][:2] == ["2020-01-01", "2023-06-01"] and other["line"]["width"] >= 10


def test_alert_markers_carry_their_message_in_the_unit_system():
    conv = patient_dashboard_figure(series(), "conventional")
    si = patient_dashboard_figure(series(), "si")
    assert by_name(conv, "Critical alerts")["customdata"][0] == ["TG_SEVERE", "TG 1000 mg/dL"]
    assert by_name(si, "Critical alerts")["customdata"][0] == ["TG_SEVERE", "TG 11.29 mmol/L"]


def test_alert_message_is_escaped_in_the_hover():
    s = series()
    s.alerts = [AlertMark(START, "info", "X", {"conventional": "<img src=x onerror=alert(1)>", "si": ""})]
    fig = patient_dashboard_figure(s, "conventional")
    assert "<img" not in by_name(fig, "Info alerts")["customdata"][0][1]


def test_baseline_and_month_marks_with_changes():
    fig = patient_dashboard_figure(series(), "conventional")
    marks = by_name(fig, "Triglycerides: baseline and months 3/6/12")
    assert marks["text"] == ["B", "M3", "M12"]
    assert marks["y"] == [1000.0, 700.0, 400.0]
    assert "change -600 mg/dL (-60 %)" in marks["customdata"][2][1]
    hba1c = by_name(fig, "HbA1c: baseline and months 3/6/12")
    assert hba1c["text"] == ["B", "M3", "M12"]
    assert hba1c["customdata"][2][1].endswith("change -2.5 %")  # %-points, no percent change
    si = patient_dashboard_figure(series(), "si")
    assert by_name(si, "HbA1c: baseline and months 3/6/12")["customdata"][2][1].endswith("change -27 mmol/mol")
    assert not [a for a in fig["layout"]["annotations"] if "no baseline" in a["text"]]


def test_no_baseline_and_provisional_are_said_in_words():
    s = series(baseline=False, today=START + dt.timedelta(days=400))
    fig = patient_dashboard_figure(s, "conventional")
    words = [a["text"] for a in fig["layout"]["annotations"]]
    assert "no baseline (Triglycerides)" in words and "no baseline (HbA1c)" in words
    assert "metreleptin · month 12 provisional" in words
    marks = by_name(fig, "Triglycerides: baseline and months 3/6/12")
    assert marks["text"] == ["M3", "M12 (provisional)"]
    assert "no baseline, no change computed" in marks["customdata"][0][1]


def test_table_rows_are_exactly_the_plotted_points():
    fig = patient_dashboard_figure(series(), "si")
    rows = table_rows(fig)
    plotted = sum(sum(1 for x in t["x"] if x is not None) for t in fig["data"] if (t.get("meta") or {}).get("table"))
    assert len(rows) == plotted
    tg_rows = [r for r in rows if r["series"] == "Triglycerides"]
    assert {r["unit"] for r in tg_rows} == {"mmol/L"}
    assert [r["value"] for r in tg_rows] == ["10.16", "11.29", "7.90", "4.52"]  # by date, 2 decimals
    assert [r["note"] for r in tg_rows] == ["fasting"] * 4
    assert any(r["series"] == "Weight" and r["value"] == "50.0" for r in rows)


def test_empty_series_draws_an_empty_figure():
    fig = patient_dashboard_figure(PatientSeries(label="LD-1", sex="male", today=TODAY), "si")
    assert fig["data"] == []


def test_figure_template_is_light():
    """Plotly's default template adds about 6 kB to every figure."""
    fig = patient_dashboard_figure(series(), "si")
    assert fig["layout"]["template"] == "none"


def test_every_figure_is_valid_for_plotly():
    """The figure functions return plain dicts (speed); plotly's own validation still runs
    here, so an unknown or misspelt property fails."""
    import plotly.graph_objects as go

    pts = responses(12)
    cohort = CohortData(n_patients=7, site_subtype={("A", "CGL1"): 6, ("B", "CGL1"): 1})
    months = {dt.date(2024, 1, 1): {"critical": 2, "warning": 7, "info": 0}}
    figures = [
        patient_dashboard_figure(series(), "si"),
        patient_dashboard_figure(series(baseline=False, today=START + dt.timedelta(days=400)), "conventional"),
        subtype_site_figure(cohort, researcher=True),
        tg_waterfall_figure(pts, researcher=False),
        tg_waterfall_figure(pts, researcher=True),
        hba1c_change_figure(pts, researcher=True, system="si"),
        response_class_figure(pts, researcher=True),
        open_alerts_figure(months, researcher=False),
    ]
    for fig in figures:
        go.Figure(fig)  # raises on anything plotly.js does not know


@pytest.mark.parametrize(
    ("values", "expected"),
    [([150, 600], [100, 200, 500, 1000]), ([1.69, 11.29], [1, 2, 5, 10, 20, 50, 100])],
)
def test_log_ticks_are_one_two_five_over_the_decades(values, expected):
    ticks = log_ticks(values)
    assert [t for t in ticks if t in expected] == expected
    assert min(ticks) <= min(values) and max(ticks) >= max(values)


# --- provisional month 12 and the response summary (RULES.md 3) ------------------------


@pytest.mark.parametrize(
    ("end", "today", "provisional"),
    [
        (None, START + dt.timedelta(days=425), True),
        (None, START + dt.timedelta(days=426), False),
        (START + dt.timedelta(days=200), START + dt.timedelta(days=300), False),  # course ended
        (START + dt.timedelta(days=500), START + dt.timedelta(days=300), True),  # end still ahead
    ],
)
def test_month12_provisional(end, today, provisional):
    assert trends.month12_provisional(start=START, end=end, today=today) is provisional
    assert catalogue.MONTH12_WINDOW_CLOSED_DAYS == 425


def test_course_summary_counts_only_on_treatment_values_for_months():
    points = {
        "hba1c": [
            trends.Point(START - dt.timedelta(days=10), D("9.0")),
            trends.Point(START + dt.timedelta(days=366), D("6.0")),
        ],
        "triglycerides": [],
    }
    ended = course_summary(start=START, end=START + dt.timedelta(days=300), series=points, today=TODAY)
    assert 12 not in ended.analytes["hba1c"].months  # collected after the course ended
    assert ended.response_class == "insufficient_data" and not ended.provisional
    running = course_summary(start=START, end=None, series=points, today=TODAY)
    assert running.hba1c_change == D("-3.0") and running.response_class == "strong_responder"
    assert running.no_baseline == ["triglycerides"]


def test_summary_display_in_the_users_units_and_words():
    s = series()
    conv = summary_display(s.summaries[0], "conventional")
    assert conv["status"] == "strong_responder" and conv["label"] == "Strong responder"
    tg_row = next(r for r in conv["rows"] if r["analyte"] == "triglycerides")
    assert tg_row["baseline"]["text"] == "1000" and tg_row["unit"] == "mg/dL"
    m12 = next(m for m in tg_row["months"] if m["month"] == 12)
    assert m12["value"]["text"] == "400" and m12["change"] == "-600" and m12["percent"] == "-60 %"
    si = summary_display(s.summaries[0], "si")
    h = next(r for r in si["rows"] if r["analyte"] == "hba1c")
    assert h["unit"] == "mmol/mol" and h["baseline"]["text"] == "75"
    nb = series(baseline=False, today=START + dt.timedelta(days=500))
    shown = summary_display(nb.summaries[0], "conventional")
    assert shown["status"] == "no_baseline" and shown["label"] == "No baseline"
    prov = summary_display(series(today=START + dt.timedelta(days=400)).summaries[0], "conventional")
    assert prov["status"] == "provisional" and prov["label"] == "Provisional"
    assert "month-12 window open until" in prov["detail"]


# --- cohort figures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "researcher", "expected"),
    [(0, True, (None, "<5")), (4, True, (None, "<5")), (5, True, (5, "5")), (3, False, (3, "3")), (0, False, (0, "0"))],
)
def test_suppress(n, researcher, expected):
    assert suppress(n, researcher) == expected


def responses(n: int) -> list[ResponsePoint]:
    classes = ["strong_responder", "responder", "non_responder"]
    return [ResponsePoint(f"LD-{i:06d}", classes[i % 3], i == 0, -50.0 + 7 * i, -2.0 + 0.3 * i) for i in range(n)]


def test_waterfall_per_patient_for_clinicians_binned_for_researchers():
    pts = responses(12)
    clin = tg_waterfall_figure(pts, researcher=False)
    bars = [y for t in clin["data"] for y in t["y"]]
    assert len(bars) == 12
    labels = [c[0] for t in clin["data"] for c in t["customdata"]]
    assert "LD-000003" in labels
    res = tg_waterfall_figure(pts, researcher=True)
    text = res.__repr__()
    assert "LD-0000" not in text  # no patient is named
    bar = res["data"][0]
    assert sum(y for y in bar["y"] if y is not None) + 0 <= 12
    assert all(y is None or y >= 5 for y in bar["y"])
    assert all(t in ("<5",) or int(t) >= 5 for t in bar["text"])
    assert "N = 12" in res["layout"]["title"]["text"]


def test_small_cohort_is_suppressed_for_researchers():
    pts = responses(3)
    res = response_class_figure(pts, researcher=True)
    assert res["data"][0]["y"] == [None] * 5
    assert set(res["data"][0]["text"]) == {"<5"}
    assert "N = <5" in res["layout"]["title"]["text"]
    assert {a["text"] for a in res["layout"]["annotations"]} == {"<5"}
    clin = response_class_figure(pts, researcher=False)
    # the first is provisional: strong, responder, non, insufficient, provisional
    assert clin["data"][0]["y"] == [0, 1, 1, 0, 1]
    cohort = CohortData(n_patients=7, site_subtype={("A", "CGL1"): 6, ("B", "CGL1"): 1})
    heat = subtype_site_figure(cohort, researcher=True)
    assert heat["data"][0]["text"] == [["6", "<5"]] and heat["data"][0]["z"] == [[6, 0]]
    assert subtype_site_figure(cohort, researcher=False)["data"][0]["text"] == [["6", "1"]]


def test_hba1c_change_distribution_in_the_users_units():
    pts = responses(10)
    conv = hba1c_change_figure(pts, researcher=False, system="conventional")
    si = hba1c_change_figure(pts, researcher=False, system="si")
    assert "%" in conv["layout"]["title"]["text"] and "mmol/mol" in si["layout"]["title"]["text"]
    assert sum(conv["data"][0]["y"]) == sum(si["data"][0]["y"]) == 10
    assert conv["data"][0]["x"][0] == "-2 to -1.5"
    assert si["data"][0]["x"][0].endswith("mmol/mol") is False and " to " in si["data"][0]["x"][0]


def test_open_alerts_over_time_suppressed_for_researchers():
    months = {dt.date(2024, 1, 1): {"critical": 2, "warning": 7, "info": 0}}
    res = open_alerts_figure(months, researcher=True)
    crit = next(t for t in res["data"] if t["name"] == "Critical")
    warn = next(t for t in res["data"] if t["name"] == "Warning")
    assert crit["y"] == [None] and crit["text"] == ["<5"] and warn["y"] == [7]
    clin = open_alerts_figure(months, researcher=False)
    assert next(t for t in clin["data"] if t["name"] == "Critical")["y"] == [2]
