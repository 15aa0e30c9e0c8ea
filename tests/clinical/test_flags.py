"""Reference flags and display conversion: pure, no database."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from clinical import catalogue, formatting
from clinical.flags import CRITICAL, HIGH, LOW, NORMAL, lab_flag


def canon(analyte: str, value: str, unit: str) -> D:
    return catalogue.ANALYTES[analyte].to_canonical(D(value), unit)


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "sex", "fasting", "expected"),
    [
        ("triglycerides", "150", "mg/dL", "female", None, NORMAL),  # 1.69 mmol/L
        ("triglycerides", "1.7", "mmol/L", "female", None, HIGH),  # "< 1.7": the limit itself is high
        ("triglycerides", "1.71", "mmol/L", "female", None, HIGH),
        ("triglycerides", "999", "mg/dL", "male", None, HIGH),
        ("triglycerides", "1000", "mg/dL", "male", None, CRITICAL),  # TG_SEVERE fires at equality
        ("triglycerides", "11.29", "mmol/L", "male", None, CRITICAL),  # same threshold in SI
        ("glucose", "54", "mg/dL", "male", None, NORMAL),  # not hypo; non-fasting: no default range
        ("glucose", "53", "mg/dL", "male", None, CRITICAL),  # HYPOGLYCEMIA: below 54 mg/dL
        ("glucose", "3.5", "mmol/L", "male", True, LOW),
        ("glucose", "7.0", "mmol/L", "male", True, HIGH),
        ("glucose", "7.0", "mmol/L", "male", False, NORMAL),
        ("hba1c", "5.6", "%", "female", None, NORMAL),
        ("hba1c", "64", "mmol/mol", "female", None, HIGH),  # 8.0 %
        ("hba1c", "3.9", "%", "female", None, LOW),
        ("alt", "40", "U/L", "male", None, NORMAL),
        ("alt", "40", "U/L", "female", None, HIGH),  # sex-specific upper limit 33
        ("total_cholesterol", "400", "mg/dL", "female", None, NORMAL),  # no default range
    ],
)
def test_flag_against_catalogue_defaults(analyte, value, unit, sex, fasting, expected):
    assert lab_flag(analyte=analyte, canonical=canon(analyte, value, unit), sex=sex, fasting=fasting) == expected


def test_lab_supplied_range_wins_and_is_read_in_the_results_unit():
    c = canon("alt", "40", "U/L")
    assert lab_flag(analyte="alt", canonical=c, sex="female") == HIGH
    assert lab_flag(analyte="alt", canonical=c, sex="female", unit="U/L", reference_high=D(45)) == NORMAL
    tg = canon("triglycerides", "180", "mg/dL")
    # lab range 0-200 mg/dL: normal although above the catalogue's 1.7 mmol/L
    assert (
        lab_flag(analyte="triglycerides", canonical=tg, unit="mg/dL", reference_low=D(0), reference_high=D(200))
        == NORMAL
    )
    # a non-fasting glucose with a lab range is flagged against that range
    g = canon("glucose", "40", "mg/dL")
    assert lab_flag(analyte="glucose", canonical=g, unit="mg/dL", reference_low=D(70)) == CRITICAL


def test_critical_beats_a_lab_range():
    tg = canon("triglycerides", "1200", "mg/dL")
    assert lab_flag(analyte="triglycerides", canonical=tg, unit="mg/dL", reference_high=D(5000)) == CRITICAL


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "system", "text", "shown_unit"),
    [
        ("triglycerides", "1200", "mg/dL", "conventional", "1200", "mg/dL"),
        ("triglycerides", "1200", "mg/dL", "si", "13.55", "mmol/L"),
        ("hba1c", "64", "mmol/mol", "conventional", "8.0", "%"),
        ("hba1c", "8.0", "%", "si", "64", "mmol/mol"),
        ("glucose", "5.5", "mmol/L", "conventional", "99", "mg/dL"),
        ("alt", "1", "ukat/L", "si", "60", "U/L"),
    ],
)
def test_display_in_the_users_units(analyte, value, unit, system, text, shown_unit):
    shown = formatting.to_display(canon(analyte, value, unit), analyte=analyte, system=system)
    assert shown == (text, shown_unit)


def test_other_sex_gets_the_lower_upper_limit_like_the_rules():
    """ALT upper limits 41 (male) / 33 (female): other or unknown sex is flagged above 33,
    the same limit the liver-enzyme rule uses."""
    alt = catalogue.ANALYTES["alt"].to_canonical(D(34), "U/L")
    for sex in ("other", "unknown"):
        assert lab_flag(analyte="alt", canonical=alt, sex=sex) == HIGH
        assert catalogue.ANALYTES["alt"].default_reference(sex).high == D(33)
    assert lab_flag(analyte="alt", canonical=alt, sex="male") == NORMAL


# --- RULES.md 5: reference flag edges ---------------------------------------------------


def test_triglycerides_exactly_at_the_below_limit_is_high():
    assert lab_flag(analyte="triglycerides", canonical=D("1.7")) == HIGH
    assert lab_flag(analyte="triglycerides", canonical=D("1.69")) == NORMAL
    # a lab's own range is inclusive as printed
    assert lab_flag(analyte="triglycerides", canonical=D("1.7"), unit="mmol/L", reference_high=D("1.7")) == NORMAL


@pytest.mark.parametrize(
    ("mg_dl", "fasting", "expected"),
    [
        ("141", None, "H"),
        ("140", None, ""),
        ("60", None, ""),  # no lower default when not known fasting (the alerts cover lows)
        ("60", True, "L"),
        ("100", True, "H"),
        ("600", None, "critical"),
        ("600", True, "critical"),
        ("53", False, "critical"),
    ],
)
def test_glucose_flags_by_fasting_state(mg_dl, fasting, expected):
    canonical = catalogue.ANALYTES["glucose"].to_canonical(D(mg_dl), "mg/dL")
    assert lab_flag(analyte="glucose", canonical=canonical, fasting=fasting) == expected
