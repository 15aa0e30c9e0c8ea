"""The alert rule table (RULES.md section 2), without the database.

Values are converted with the catalogue and quantized exactly as the lab service stores
them, so "at the threshold" means what a clinician typing that number would get.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical import alerts, catalogue
from clinical.records import Course, Dose, Lab, PatientRecord, Weight
from clinical.services import CANONICAL_QUANTUM

TODAY = dt.date(2025, 6, 1)
START = dt.date(2024, 1, 1)


def canon(analyte: str, value: str, unit: str) -> D:
    return catalogue.ANALYTES[analyte].to_canonical(D(value), unit).quantize(CANONICAL_QUANTUM)


def lab(analyte, value, unit, on=dt.date(2025, 1, 10), key=None, uln=None):
    key = key or f"{analyte}-{value}-{unit}-{on}"
    return Lab(key, analyte, canon(analyte, value, unit), on, uln)


def record(*labs, sex="female", subtype="CGL1", courses=(), weights=(), today=TODAY):
    return PatientRecord(
        sex=sex, subtype=subtype, today=today, labs=tuple(labs), courses=tuple(courses), weights=tuple(weights)
    )


def rules_of(rec) -> set[str]:
    return {c.rule for c in alerts.evaluate_alerts(rec)}


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def metreleptin(start=START, end=None, doses=(), key="m1"):
    return Course(key, "metreleptin", start, end, tuple(doses))


# --------------------------------------------------------------------------------------
# Single-result rules at the exact thresholds, in both unit systems
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        # TG_VERY_HIGH >= 500 mg/dL (5.645 mmol/L); TG_SEVERE >= 1000 mg/dL (11.29 mmol/L)
        ("triglycerides", "499.99", "mg/dL", set()),
        ("triglycerides", "500", "mg/dL", {"TG_VERY_HIGH"}),
        ("triglycerides", "5.644", "mmol/L", set()),
        ("triglycerides", "5.645", "mmol/L", {"TG_VERY_HIGH"}),
        ("triglycerides", "999.99", "mg/dL", {"TG_VERY_HIGH"}),
        ("triglycerides", "1000", "mg/dL", {"TG_SEVERE"}),  # supersedes TG_VERY_HIGH
        ("triglycerides", "11.289", "mmol/L", {"TG_VERY_HIGH"}),
        ("triglycerides", "11.29", "mmol/L", {"TG_SEVERE"}),
        ("triglycerides", "1200", "mg/dL", {"TG_SEVERE"}),
        # HYPOGLYCEMIA < 54 mg/dL (2.997 mmol/L); LOW_GLUCOSE < 70 mg/dL (3.885 mmol/L)
        ("glucose", "70", "mg/dL", set()),
        ("glucose", "3.885", "mmol/L", set()),
        ("glucose", "69.99", "mg/dL", {"LOW_GLUCOSE"}),
        ("glucose", "3.884", "mmol/L", {"LOW_GLUCOSE"}),
        ("glucose", "54", "mg/dL", {"LOW_GLUCOSE"}),
        ("glucose", "2.997", "mmol/L", {"LOW_GLUCOSE"}),
        ("glucose", "53.99", "mg/dL", {"HYPOGLYCEMIA"}),  # supersedes LOW_GLUCOSE
        ("glucose", "2.996", "mmol/L", {"HYPOGLYCEMIA"}),
        # LIVER_ENZYMES_HIGH > 3 x ULN; female defaults ALT 33, AST 32 U/L
        ("alt", "99", "U/L", set()),
        ("alt", "99.01", "U/L", {"LIVER_ENZYMES_HIGH"}),
        ("alt", "1.65", "ukat/L", set()),  # 99 U/L
        ("alt", "1.6502", "ukat/L", {"LIVER_ENZYMES_HIGH"}),
        ("ast", "96", "U/L", set()),
        ("ast", "96.5", "U/L", {"LIVER_ENZYMES_HIGH"}),
        ("ggt", "5000", "U/L", set()),  # no rule for GGT
    ],
)
def test_single_result_thresholds(analyte, value, unit, expected):
    assert rules_of(record(lab(analyte, value, unit))) == expected


def test_threshold_canonical_values_match_rules_md():
    t = catalogue.THRESHOLDS
    assert t["TG_VERY_HIGH"].canonical == D("5.645")
    assert t["TG_SEVERE"].canonical == D("11.29")
    assert t["HYPOGLYCEMIA"].canonical == D("2.997")
    assert t["LOW_GLUCOSE"].canonical == D("3.885")
    assert t["LOSS_OF_EFFECT_TG_FLOOR"].canonical == D("2.258")


@given(st.decimals(min_value=D("0.05"), max_value=D(340), places=3))
def test_tg_rules_are_exclusive_and_agree_with_threshold(value):
    got = rules_of(record(Lab("k", "triglycerides", value, TODAY)))
    assert len(got & {"TG_SEVERE", "TG_VERY_HIGH"}) <= 1
    assert ("TG_SEVERE" in got) == (value >= D("11.29"))
    assert bool(got) == (value >= D("5.645"))


@pytest.mark.parametrize(
    ("sex", "value", "expected"),
    [("male", "123", False), ("male", "123.01", True), ("female", "99.01", True), ("unknown", "99.01", True)],
)
def test_liver_sex_default_uln(sex, value, expected):
    assert ("LIVER_ENZYMES_HIGH" in rules_of(record(lab("alt", value, "U/L"), sex=sex))) is expected


def test_lab_supplied_uln_wins():
    assert rules_of(record(lab("alt", "150", "U/L", uln=D(50)))) == set()
    assert rules_of(record(lab("alt", "150.1", "U/L", uln=D(50)))) == {"LIVER_ENZYMES_HIGH"}


@pytest.mark.parametrize(
    ("bili", "unit", "days_apart", "expected"),
    [
        ("42", "umol/L", 0, False),  # exactly 2 x 21: not above
        ("42.1", "umol/L", 0, True),
        ("2.46", "mg/dL", 7, True),  # 42.066 umol/L, 7 days apart
        ("2.46", "mg/dL", -7, True),
        ("2.46", "mg/dL", 8, False),
    ],
)
def test_hys_law(bili, unit, days_apart, expected):
    on = dt.date(2025, 1, 10)
    rec = record(lab("alt", "100", "U/L", on), lab("bilirubin_total", bili, unit, on + dt.timedelta(days=days_apart)))
    got = rules_of(rec)
    assert "LIVER_ENZYMES_HIGH" in got
    assert ("HYS_LAW" in got) is expected
    if expected:
        hys = [c for c in alerts.evaluate_alerts(rec) if c.rule == "HYS_LAW"][0]
        assert hys.subject_key == f"lab:{rec.labs[0].key}"  # the enzyme result
        assert alerts.RULES["HYS_LAW"].severity == "critical"


# --------------------------------------------------------------------------------------
# Course, dose and visit rules
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (Course("i", "insulin", day(-100)), True),
        (Course("i", "insulin", day(-100), START), True),  # ends on the start date: still active
        (Course("i", "insulin", day(-100), day(-1)), False),
        (Course("s", "sulfonylurea", START), True),
        (Course("i", "insulin", day(1)), False),  # starts after
        (Course("f", "metformin", day(-100)), False),
    ],
)
def test_hypo_risk_at_start(other, expected):
    rec = record(courses=[metreleptin(), other])
    assert ("HYPO_RISK_AT_START" in rules_of(rec)) is expected


@pytest.mark.parametrize(
    ("weight", "dose", "expected"),
    [
        ("60", "10", False),
        ("60", "10.001", True),
        ("40", "5.2", False),  # 0.13 mg/kg x 40 kg
        ("40", "5.201", True),
        ("30", "3.9", False),
        ("30", "3.901", True),
        ("40.01", "10", False),
        (None, "10", False),  # no weight: only above 10 mg/day is certain
        (None, "10.5", True),
    ],
)
def test_metreleptin_dose_above_max(weight, dose, expected):
    doses = [Dose("d1", day(30), D(dose), "mg/day")]
    weights = [Weight("v1", day(10), D(weight))] if weight else []
    weights.append(Weight("v-later", day(61), D(20)))  # 31 days after the dose: never used
    rec = record(courses=[metreleptin(doses=doses)], weights=weights)
    got = [c for c in alerts.evaluate_alerts(rec) if c.rule == "METRELEPTIN_DOSE_ABOVE_MAX"]
    assert bool(got) is expected
    if got:
        assert got[0].subject_key == "dose:d1"


@pytest.mark.parametrize(("after", "expected"), [(30, True), (31, False)])
def test_dose_check_falls_back_to_the_first_weight_within_30_days_after(after, expected):
    doses = [Dose("d1", day(30), D("5"), "mg/day")]  # 0.25 mg/kg at 20 kg: above 0.13
    rec = record(courses=[metreleptin(doses=doses)], weights=[Weight("v1", day(30 + after), D(20))])
    got = [c for c in alerts.evaluate_alerts(rec) if c.rule == "METRELEPTIN_DOSE_ABOVE_MAX"]
    assert bool(got) is expected
    if got:
        text = alerts.render_alert_message(got[0].rule, got[0].params, "conventional")
        assert "no weight on or before the dose" in text and "after it, used" in text


def hba1c_at(n, value):
    return Lab(f"h{n}", "hba1c", D(value), day(n))


@pytest.mark.parametrize(
    ("latest", "course_days", "expected"),
    [("8.0", 200, True), ("7.99", 200, False), ("8.0", 179, False), ("8.0", 180, True)],
)
def test_loss_of_effect_hba1c(latest, course_days, expected):
    labs = [hba1c_at(-5, "9"), hba1c_at(60, "7.0"), hba1c_at(min(170, course_days), latest)]
    rec = record(*labs, courses=[metreleptin()], today=day(course_days))
    assert ("METRELEPTIN_LOSS_OF_EFFECT" in rules_of(rec)) is expected


@pytest.mark.parametrize(
    ("nadir", "latest", "unit", "expected"),
    [
        ("2.0", "3.0", "mmol/L", True),  # +50 %, >= 2.258
        ("2.0", "2.999", "mmol/L", False),  # +49.95 %
        ("1.4", "2.1", "mmol/L", False),  # +50 % but below 200 mg/dL
        ("150", "225", "mg/dL", True),  # +50 % and 225 mg/dL
        ("140", "210", "mg/dL", True),
        ("130", "199", "mg/dL", False),
    ],
)
def test_loss_of_effect_triglycerides(nadir, latest, unit, expected):
    labs = [lab("triglycerides", nadir, unit, day(50), "t1"), lab("triglycerides", latest, unit, day(190), "t2")]
    rec = record(*labs, courses=[metreleptin()], today=day(200))
    assert ("METRELEPTIN_LOSS_OF_EFFECT" in rules_of(rec)) is expected


@pytest.mark.parametrize(("m12", "expected"), [("7.5", True), ("7.0", False)])
def test_non_response(m12, expected):
    rec = record(hba1c_at(-10, "8.0"), hba1c_at(365, m12), courses=[metreleptin()], today=day(426))
    got = rules_of(rec)
    assert ("METRELEPTIN_NON_RESPONSE" in got) is expected


@pytest.mark.parametrize(("today", "end", "expected"), [(425, None, False), (426, None, True), (400, 400, True)])
def test_no_non_response_on_a_provisional_class(today, end, expected):
    """Until start + 425 days has passed (or the course ended) a late month-12 value can
    still change the class: no non-response alert yet."""
    rec = record(
        hba1c_at(-10, "8.0"),
        hba1c_at(365, "7.5"),
        courses=[metreleptin(end=day(end) if end else None)],
        today=day(today),
    )
    assert ("METRELEPTIN_NON_RESPONSE" in rules_of(rec)) is expected


def test_values_after_the_course_ended_do_not_count_for_month_12():
    rec = record(hba1c_at(-10, "8.0"), hba1c_at(365, "7.5"), courses=[metreleptin(end=day(300))], today=day(500))
    assert "METRELEPTIN_NON_RESPONSE" not in rules_of(rec)  # insufficient data, not non-response


def test_non_response_needs_a_computable_change():
    rec = record(hba1c_at(365, "9.0"), courses=[metreleptin()], today=day(400))  # no baseline
    assert "METRELEPTIN_NON_RESPONSE" not in rules_of(rec)


@pytest.mark.parametrize(
    ("value", "unit", "days_after", "expected"),
    [
        ("500", "mg/dL", 90, True),
        ("5.645", "mmol/L", 1, True),
        ("500", "mg/dL", 91, False),
        ("500", "mg/dL", 0, False),  # the stop day itself is still on treatment
        ("499", "mg/dL", 30, False),
    ],
)
def test_tg_after_stop(value, unit, days_after, expected):
    end = day(300)
    rec = record(
        lab("triglycerides", value, unit, end + dt.timedelta(days=days_after)),
        courses=[metreleptin(end=end)],
    )
    assert ("TG_AFTER_STOP" in rules_of(rec)) is expected


@pytest.mark.parametrize(
    ("later_kg", "days", "expected"),
    [("54", 180, True), ("54.01", 100, False), ("50", 181, False), ("54", 1, True)],
)
def test_weight_loss(later_kg, days, expected):
    weights = [Weight("v0", day(0), D(60)), Weight("v1", day(days), D(later_kg))]
    rec = record(courses=[metreleptin()], weights=weights, today=day(400))
    got = [c for c in alerts.evaluate_alerts(rec) if c.rule == "WEIGHT_LOSS"]
    assert bool(got) is expected
    if got:
        assert got[0].subject_key == "visit:v1"


def test_weight_loss_before_metreleptin_does_not_count():
    weights = [Weight("v0", day(-100), D(60)), Weight("v1", day(-1), D(50))]
    assert "WEIGHT_LOSS" not in rules_of(record(courses=[metreleptin()], weights=weights))


@pytest.mark.parametrize(
    ("subtype", "end", "expected"), [("AGL", None, True), ("CGL1", None, False), ("AGL", day(100), False)]
)
def test_lymphoma_vigilance(subtype, end, expected):
    rec = record(courses=[metreleptin(end=end)], subtype=subtype)
    assert ("LYMPHOMA_VIGILANCE" in rules_of(rec)) is expected


@pytest.mark.parametrize(
    ("hba1c_age", "tg_age", "active", "expected"),
    [(183, 183, True, False), (184, 10, True, True), (10, 184, True, True), (184, 184, False, False)],
)
def test_monitoring_overdue(hba1c_age, tg_age, active, expected):
    labs = [
        Lab("h", "hba1c", D("7"), TODAY - dt.timedelta(days=hba1c_age)),
        Lab("t", "triglycerides", D("2"), TODAY - dt.timedelta(days=tg_age)),
    ]
    course = metreleptin(end=None if active else day(10))
    got = [c for c in alerts.evaluate_alerts(record(*labs, courses=[course])) if c.rule == "MONITORING_OVERDUE"]
    assert bool(got) is expected
    if got:
        assert got[0].subject_key == "patient" and alerts.RULES["MONITORING_OVERDUE"].state


@pytest.mark.parametrize(
    ("prior", "value", "expected"),
    [
        (["10", "10", "10"], "200", True),  # 20 x the median
        (["10", "10", "10"], "199.9", False),
        (["10", "10", "10"], "0.5", True),  # 1/20
        (["10", "10", "10"], "0.51", False),
        (["10", "10"], "500", False),  # fewer than 3 previous values
        (["8", "10", "12", "14"], "220", True),  # median 11 of an even count
        (["8", "10", "12", "14"], "219", False),
    ],
)
def test_possible_unit_error(prior, value, expected):
    labs = [Lab(f"p{i}", "leptin", D(v), day(i)) for i, v in enumerate(prior)]
    labs.append(Lab("new", "leptin", D(value), day(100)))
    got = [c for c in alerts.evaluate_alerts(record(*labs)) if c.rule == "POSSIBLE_UNIT_ERROR"]
    assert [c.subject_key for c in got] == (["lab:new"] if expected else [])


# --------------------------------------------------------------------------------------
# The table and the messages
# --------------------------------------------------------------------------------------

RULES_MD = {
    "TG_VERY_HIGH": "warning",
    "TG_SEVERE": "critical",
    "LIVER_ENZYMES_HIGH": "warning",
    "HYS_LAW": "critical",
    "HYPOGLYCEMIA": "critical",
    "LOW_GLUCOSE": "warning",
    "HYPERGLYCEMIA_SEVERE": "critical",
    "HYPO_RISK_AT_START": "warning",
    "METRELEPTIN_DOSE_ABOVE_MAX": "warning",
    "METRELEPTIN_LOSS_OF_EFFECT": "warning",
    "METRELEPTIN_NON_RESPONSE": "info",
    "TG_AFTER_STOP": "warning",
    "WEIGHT_LOSS": "warning",
    "LYMPHOMA_VIGILANCE": "info",
    "MONITORING_OVERDUE": "info",
    "POSSIBLE_UNIT_ERROR": "info",
}


def test_rule_table_matches_rules_md():
    assert {code: r.severity for code, r in alerts.RULES.items()} == RULES_MD
    assert {"MONITORING_OVERDUE"} == alerts.STATE_RULES
    assert alerts.SEVERITY_RANK == {"critical": 0, "warning": 1, "info": 2}


def test_message_in_both_unit_systems():
    c = alerts.evaluate_alerts(record(lab("triglycerides", "1200", "mg/dL")))[0]
    conv = alerts.render_alert_message(c.rule, c.params, "conventional")
    si = alerts.render_alert_message(c.rule, c.params, "si")
    assert "Triglycerides 1200 mg/dL" in conv and "1000 mg/dL" in conv and "pancreatitis" in conv
    assert "Triglycerides 13.55 mmol/L" in si and "11.29 mmol/L" in si


def test_threshold_shown_with_the_precision_of_the_value():
    c = alerts.evaluate_alerts(record(lab("triglycerides", "600", "mg/dL")))[0]
    assert "at or above 5.65 mmol/L" in alerts.render_alert_message(c.rule, c.params, "si")


def test_hba1c_rendered_in_mmol_per_mol():
    labs = [hba1c_at(-5, "9"), hba1c_at(60, "7.0"), hba1c_at(190, "8.5")]
    c = alerts.evaluate_alerts(record(*labs, courses=[metreleptin()], today=day(200)))[0]
    assert c.rule == "METRELEPTIN_LOSS_OF_EFFECT"
    assert "8.5 %" in alerts.render_alert_message(c.rule, c.params, "conventional")
    assert "69 mmol/mol" in alerts.render_alert_message(c.rule, c.params, "si")  # (8.5 - 2.15) / 0.0915


def full_record() -> PatientRecord:
    """A record that fires every rule once."""
    end = day(400)  # the month-12 values of day 365 and 390 fall inside the course
    labs = [
        lab("triglycerides", "1200", "mg/dL", day(-95), "tg0"),  # before the baseline window
        lab("triglycerides", "600", "mg/dL", day(100), "tg1"),
        lab("triglycerides", "150", "mg/dL", day(150), "tg2"),
        lab("triglycerides", "300", "mg/dL", day(390), "tg3"),
        lab("triglycerides", "700", "mg/dL", end + dt.timedelta(days=30), "tg4"),
        lab("glucose", "50", "mg/dL", day(5), "g1"),
        lab("glucose", "60", "mg/dL", day(6), "g2"),
        lab("glucose", "650", "mg/dL", day(9), "g3"),
        lab("alt", "150", "U/L", day(7), "alt"),
        lab("bilirubin_total", "50", "umol/L", day(8), "bili"),
        Lab("h0", "hba1c", D("8.0"), day(-10)),
        Lab("h1", "hba1c", D("7.9"), day(365)),
        Lab("h2", "hba1c", D("9.5"), day(390)),
        *[Lab(f"l{i}", "leptin", D("10"), day(i)) for i in range(3)],
        Lab("l3", "leptin", D("300"), day(10)),
    ]
    courses = [
        metreleptin(end=end, doses=[Dose("d1", day(20), D(12), "mg/day")]),
        metreleptin(start=end + dt.timedelta(days=200), key="m2"),
        Course("ins", "insulin", day(-300)),
    ]
    weights = [Weight("v0", day(0), D(60)), Weight("v1", day(90), D(52))]
    return record(*labs, courses=courses, weights=weights, subtype="AGL", today=end + dt.timedelta(days=400))


def test_full_record_fires_every_rule_and_every_message_renders():
    candidates = alerts.evaluate_alerts(full_record())
    assert {c.rule for c in candidates} == set(alerts.RULES)
    for c in candidates:
        for system in catalogue.UNIT_SYSTEMS:
            text = alerts.render_alert_message(c.rule, c.params, system)
            assert text != alerts.RULES[c.rule].title, (c.rule, c.params)
            assert "None" not in text, text


def test_evaluate_is_deterministic_and_unique():
    rec = full_record()
    a, b = alerts.evaluate_alerts(rec), alerts.evaluate_alerts(rec)
    assert a == b
    keys = [(c.rule, c.subject_key) for c in a]
    assert len(keys) == len(set(keys))


def test_params_are_json_safe():
    import json

    for c in alerts.evaluate_alerts(full_record()):
        assert json.loads(json.dumps(c.params)) == c.params


def test_render_unknown_rule_or_broken_params_never_raises():
    assert alerts.render_alert_message("NOPE", {}, "si") == "NOPE"
    assert alerts.render_alert_message("TG_SEVERE", {}, "si") == alerts.RULES["TG_SEVERE"].title


# --------------------------------------------------------------------------------------
# observed_on: the date of the evidence
# --------------------------------------------------------------------------------------


def test_observed_on_is_the_date_of_the_evidence():
    rec = full_record()
    labs = {x.key: x.collected_on for x in rec.labs}
    doses = {d.key: d.effective_date for c in rec.courses for d in c.doses}
    visits = {w.key: w.on for w in rec.weights}
    starts = {c.key: c.start_date for c in rec.courses}
    expected_course = {
        "HYPO_RISK_AT_START": lambda key, p: starts[key],
        "LYMPHOMA_VIGILANCE": lambda key, p: starts[key],
        # the latest rising value: HbA1c 9.5 % on day 390
        "METRELEPTIN_LOSS_OF_EFFECT": lambda key, p: day(390),
        # the month-12 values the response was judged on: HbA1c day 365, TG day 390
        "METRELEPTIN_NON_RESPONSE": lambda key, p: day(390),
    }
    seen = set()
    for c in alerts.evaluate_alerts(rec):
        kind, _, key = c.subject_key.partition(":")
        if kind == "lab":
            want = labs[key]
        elif kind == "dose":
            want = doses[key]
        elif kind == "visit":
            want = visits[key]
        elif kind == "course":
            want = expected_course[c.rule](key, c.params)
        else:
            # MONITORING_OVERDUE: HbA1c last on day 390 is overdue from day 390 + 183 + 1,
            # but the current course only started on day 600.
            want = day(600)
        assert c.observed_on == want, (c.rule, c.subject_key, c.observed_on, want)
        seen.add(c.rule)
    assert seen == set(alerts.RULES)


@pytest.mark.parametrize(
    ("labs_ago", "course_days", "expected_days_ago"),
    [
        (None, 30, 30),  # never measured: overdue since the course started
        (200, 400, 200 - 184),  # last value 200 days ago: overdue since the window closed
        (400, 100, 100),  # the last value predates the course: from the course start
    ],
)
def test_monitoring_overdue_observed_on_is_the_day_it_became_overdue(labs_ago, course_days, expected_days_ago):
    labs = []
    if labs_ago is not None:
        on = TODAY - dt.timedelta(days=labs_ago)
        labs = [Lab("h", "hba1c", D("7"), on), Lab("t", "triglycerides", D("2"), on)]
    course = metreleptin(start=TODAY - dt.timedelta(days=course_days))
    (got,) = [c for c in alerts.evaluate_alerts(record(*labs, courses=[course])) if c.rule == "MONITORING_OVERDUE"]
    assert got.observed_on == TODAY - dt.timedelta(days=expected_days_ago)
