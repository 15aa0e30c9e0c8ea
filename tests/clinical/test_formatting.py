"""The one formatter for clinical numbers (RULES.md section 5), without the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from decimal import localcontext
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical import alerts, catalogue, flags, formatting
from clinical.records import Lab, PatientRecord
from clinical.services import CANONICAL_QUANTUM


def canon(analyte: str, value: str, unit: str) -> D:
    """Stored exactly as the lab service stores it."""
    return catalogue.ANALYTES[analyte].to_canonical(D(value), unit).quantize(CANONICAL_QUANTUM)


def tg_message(value: str, unit: str, system: str) -> str:
    lab = Lab("k", "triglycerides", canon("triglycerides", value, unit), dt.date(2025, 1, 10))
    record = PatientRecord(sex="female", subtype="CGL1", today=dt.date(2025, 6, 1), labs=(lab,))
    (candidate,) = alerts.evaluate_alerts(record)
    return alerts.render_alert_message(candidate.rule, candidate.params, system)


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [("500.5", 0, "501"), ("499.5", 0, "500"), ("0.125", 2, "0.13"), ("5.645", 2, "5.65"), ("-1.5", 0, "-2")],
)
def test_half_up_not_bankers(value, places, text):
    assert format(formatting.round_half_up(value, places), "f") == text


def test_value_rounded_to_the_precision_of_analyte_and_unit():
    assert formatting.format_value(D("500.5"), analyte="triglycerides", unit="mg/dL") == "501"
    assert formatting.format_value(D("5.6"), analyte="triglycerides", unit="mmol/L") == "5.60"
    assert formatting.format_value(D("5.645"), analyte="triglycerides", unit="mmol/L") == "5.65"


def test_triglycerides_500_5_reads_501_on_chart_and_in_the_message():
    stored = canon("triglycerides", "500.5", "mg/dL")
    assert formatting.to_display(stored, analyte="triglycerides", system="conventional") == ("501", "mg/dL")
    row = SimpleNamespace(
        analyte="triglycerides",
        canonical_value=stored,
        value=D("500.5"),
        unit="mg/dL",
        fasting=None,
        reference_low=None,
        reference_high=None,
        collected_on=dt.date(2025, 1, 10),
    )
    assert flags.show_lab(row, sex="female", system="conventional").text == "501"
    assert "Triglycerides 501 mg/dL" in tg_message("500.5", "mg/dL", "conventional")


def test_threshold_and_value_agree_in_si():
    """500 mg/dL is 5.645 mmol/L: value and threshold both read 5.65, as on the chart."""
    stored = canon("triglycerides", "500", "mg/dL")
    assert formatting.to_display(stored, analyte="triglycerides", system="si") == ("5.65", "mmol/L")
    message = tg_message("500", "mg/dL", "si")
    assert "Triglycerides 5.65 mmol/L" in message and "at or above 5.65 mmol/L" in message
    assert "5.64" not in message and "5.645" not in message


def test_unknown_unit_system_falls_back_to_conventional():
    assert formatting.format_measure(D("5.645"), analyte="triglycerides", system="metric?") == "500 mg/dL"


@pytest.mark.parametrize(
    ("value", "places", "text"), [("3.0", 1, "3"), ("0.1255", 3, "0.126"), ("12.50", 2, "12.5"), ("-7.5", 0, "-8")]
)
def test_format_number_drops_trailing_zeros(value, places, text):
    assert formatting.format_number(D(value), places) == text


def test_plain_and_typed():
    assert formatting.plain(D("1E+1")) == "10"
    assert formatting.plain(D("5.600")) == "5.6"
    assert formatting.typed(None) == "-"
    assert formatting.typed(D("1e20")) == "1e+20"
    assert formatting.typed(D("1.23456")) == "1.235"
    assert formatting.as_float(None) is None and formatting.as_float(D("1.5")) == 1.5


@given(
    st.sampled_from(sorted(catalogue.ANALYTES)),
    st.sampled_from(sorted(catalogue.UNIT_SYSTEMS)),
    st.decimals(min_value=D("0.001"), max_value=D(300), places=3),
)
def test_shown_value_is_within_half_a_step_of_the_exact_value(analyte, system, canonical):
    text, unit = formatting.to_display(canonical, analyte=analyte, system=system)
    exact = catalogue.ANALYTES[analyte].from_canonical(canonical, unit)
    step = D(1).scaleb(-catalogue.ANALYTES[analyte].decimals_for(unit))
    assert abs(D(text) - exact) <= step / 2
    assert D(text) % step == 0


# --- the per-analyte formatter the dashboards use ------------------------------------------


def _converted_as_first_written(canonical: D, analyte: str, system: str) -> str:
    """The display text as the conversion was first computed: a fresh 34-digit local
    context for each value, then :func:`formatting.format_value`."""
    conv = catalogue.ANALYTES[analyte].display_unit(system)
    with localcontext() as ctx:
        ctx.prec = 34
        value = (D(canonical) - conv.offset) / conv.factor
    return formatting.format_value(value, analyte=analyte, unit=conv.unit)


@given(
    analyte=st.sampled_from(sorted(catalogue.ANALYTES)),
    system=st.sampled_from(catalogue.UNIT_SYSTEMS),
    canonical=st.decimals(min_value=D("-50"), max_value=D("100000"), places=10, allow_nan=False),
)
def test_display_formatter_reads_like_conversion_then_format_value(analyte, system, canonical):
    text = _converted_as_first_written(canonical, analyte, system)
    assert formatting.display_formatter(analyte, system)(canonical) == text
    unit = catalogue.ANALYTES[analyte].display_unit(system).unit
    assert formatting.to_display(canonical, analyte=analyte, system=system) == (text, unit)
    assert formatting.format_canonical(str(canonical), analyte=analyte, system=system) == text


@given(
    analyte=st.sampled_from(sorted(catalogue.ANALYTES)),
    value=st.decimals(min_value=D("-50"), max_value=D("100000"), places=6, allow_nan=False),
)
def test_unit_conversions_keep_34_digits_both_ways(analyte, value):
    for conv in catalogue.ANALYTES[analyte].units:
        with localcontext() as ctx:
            ctx.prec = 34
            canonical = value * conv.factor + conv.offset
            back = (canonical - conv.offset) / conv.factor
        assert conv.to_canonical(value) == canonical and str(conv.to_canonical(value)) == str(canonical)
        assert conv.from_canonical(canonical) == back and str(conv.from_canonical(canonical)) == str(back)


def test_conversions_ignore_the_callers_decimal_context():
    conv = catalogue.ANALYTES["triglycerides"].unit("mmol/L")
    expected = conv.from_canonical(D("500"))
    with localcontext() as ctx:
        ctx.prec = 3
        assert conv.from_canonical(D("500")) == expected
