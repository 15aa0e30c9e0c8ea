"""The lab catalogue as data (no database): conversions round-trip, hard limits agree in
every accepted unit, unit spellings (micro sign, UCUM) resolve, HbA1c is exact."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical import catalogue
from clinical.services import lab_validate

D = Decimal
TODAY = dt.date(2025, 6, 1)
UNIT_CASES = [(a.code, u.unit) for a in catalogue.ANALYTES.values() for u in a.units]
MICRO = Decimal("0.000001")  # the finest value the lab service accepts (6 decimals)


def _canonical_values(analyte: catalogue.Analyte):
    low = analyte.hard_limits.low or D(0)
    high = analyte.hard_limits.high
    return st.decimals(min_value=low, max_value=high, places=6, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("code", "unit"), UNIT_CASES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_conversion_round_trips(code, unit, data):
    analyte = catalogue.ANALYTES[code]
    canonical = data.draw(_canonical_values(analyte))
    shown = analyte.from_canonical(canonical, unit)
    back = analyte.to_canonical(shown, unit)
    if canonical == 0:
        assert abs(back) <= D("1e-20")
    else:
        assert abs(back - canonical) / abs(canonical) <= D("1e-9")


@pytest.mark.parametrize(("code", "unit"), UNIT_CASES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_display_value_round_trips_through_entry(code, unit, data):
    """A value entered in any unit comes back to the same number when shown in it."""
    analyte = catalogue.ANALYTES[code]
    limits = analyte.limits_in(unit)
    value = data.draw(
        st.decimals(
            min_value=limits.low.quantize(MICRO, ROUND_CEILING),
            max_value=limits.high.quantize(MICRO, ROUND_FLOOR),
            places=6,
        )
    )
    canonical = analyte.to_canonical(value, unit)
    assert abs(analyte.from_canonical(canonical, unit) - value) <= max(abs(value), D(1)) * D("1e-9")


@pytest.mark.parametrize(("code", "unit"), UNIT_CASES)
def test_hard_limits_are_consistent_in_every_unit(code, unit):
    """At the limit (to the service's 6 decimals, rounded inwards) accepted; one step
    outside refused, with the range stated in that unit."""
    analyte = catalogue.ANALYTES[code]
    limits = analyte.limits_in(unit)
    low_in = limits.low.quantize(MICRO, ROUND_CEILING)
    high_in = limits.high.quantize(MICRO, ROUND_FLOOR)
    for value in (low_in, high_in):
        ok = lab_validate(analyte=code, value=value, unit=unit, collected_on=TODAY, today=TODAY)
        assert analyte.hard_limits.contains(ok.canonical)
    below = limits.low.quantize(MICRO, ROUND_FLOOR) - MICRO
    above = limits.high.quantize(MICRO, ROUND_CEILING) + MICRO
    for value in (below, above):
        with pytest.raises(ValidationError) as exc:
            lab_validate(analyte=code, value=value, unit=unit, collected_on=TODAY, today=TODAY)
        message = " ".join(exc.value.message_dict["value"])
        assert analyte.name in message and unit in message and "accepted range" in message


def test_limits_in_maps_canonical_limits_exactly():
    tg = catalogue.ANALYTES["triglycerides"]
    mgdl = tg.limits_in("mg/dL")
    assert tg.to_canonical(mgdl.low, "mg/dL") == D("0.05")
    assert tg.to_canonical(mgdl.high, "mg/dL") == D(340)
    assert 4 < mgdl.low < 5 and 30000 < mgdl.high < 30200  # "about 4-30,000 mg/dL" (RULES.md 1)


@pytest.mark.parametrize(
    ("code", "spelling", "expected"),
    [
        ("leptin", "µg/L", "ug/L"),  # micro sign U+00B5
        ("leptin", "μg/L", "ug/L"),  # Greek mu U+03BC
        ("leptin", "NG/ML", "ng/mL"),
        ("bilirubin_total", "µmol/L", "umol/L"),
        ("creatinine", "μmol/L", "umol/L"),
        ("insulin", "u[IU]/mL", "uIU/mL"),  # UCUM
        ("insulin", "µIU/mL", "uIU/mL"),
        ("insulin", "mU/L", "uIU/mL"),
        ("egfr", "mL/min/{1.73_m2}", "mL/min/1.73m2"),  # UCUM
        ("alt", "IU/L", "U/L"),
        ("alt", "µkat/L", "ukat/L"),
        ("triglycerides", " mmol / L ", "mmol/L"),
    ],
)
def test_unit_spellings_resolve(code, spelling, expected):
    analyte = catalogue.ANALYTES[code]
    assert analyte.unit(spelling).unit == expected
    middle = (analyte.limits_in(expected).high / 2).quantize(MICRO)
    # the middle of the hard limits can be unit-suspect (170 mmol/L triglycerides): confirmed
    v = lab_validate(analyte=code, value=middle, unit=spelling, collected_on=TODAY, today=TODAY, confirm_unusual=True)
    assert v.unit == expected


@pytest.mark.parametrize(("code", "spelling"), [("triglycerides", "mg/L"), ("leptin", "ng/dL"), ("hba1c", "mmol/L")])
def test_unknown_units_do_not_resolve(code, spelling):
    assert catalogue.ANALYTES[code].unit(spelling) is None


def test_hba1c_affine_conversion_is_exact():
    hba1c = catalogue.ANALYTES["hba1c"]
    assert hba1c.to_canonical(D(48), "mmol/mol") == D("6.542")
    assert hba1c.to_canonical(D(53), "mmol/mol") == D("6.9995")
    assert hba1c.from_canonical(D("6.542"), "mmol/mol") == D(48)
    assert hba1c.from_canonical(D("6.9995"), "mmol/mol") == D(53)
    assert hba1c.from_canonical(D("2.15"), "mmol/mol") == D(0)  # the offset, not a factor
    v = lab_validate(analyte="hba1c", value="48", unit="mmol/mol", collected_on=TODAY, today=TODAY)
    assert v.canonical == D("6.542")


def test_every_analyte_is_well_formed():
    for a in catalogue.ANALYTES.values():
        first = a.units[0]
        assert first.unit == a.canonical_unit and first.factor == 1 and first.offset == 0, a.code
        assert all(u.factor > 0 for u in a.units), a.code
        for system in catalogue.UNIT_SYSTEMS:
            assert a.display_unit(system) is not None, (a.code, system)
        assert a.hard_limits.low is not None and a.hard_limits.high is not None
        assert a.hard_limits.low < a.hard_limits.high
        assert a.loinc and all("-" in code for code in a.loinc)
        for ref in a.reference.values():
            assert ref.high is None or a.hard_limits.contains(ref.high)
        assert a.source, a.code


def test_thresholds_agree_in_both_unit_systems():
    tg = catalogue.THRESHOLDS["TG_SEVERE"]
    assert tg.canonical == D("11.29")
    assert catalogue.ANALYTES["triglycerides"].from_canonical(tg.canonical, "mg/dL") == D(1000)
    assert catalogue.THRESHOLDS["HYPOGLYCEMIA"].canonical == D("2.997")


def test_analyte_lookup_by_code_or_loinc():
    assert catalogue.analyte_by_code_or_loinc("2571-8").code == "triglycerides"
    assert catalogue.analyte_by_code_or_loinc("14927-8").code == "triglycerides"
    assert catalogue.analyte_by_code_or_loinc("HbA1c").code == "hba1c"
    assert catalogue.analyte_by_code_or_loinc("0000-0") is None


def test_every_subtype_group_has_subtypes_and_genes_are_symbols():
    groups = {s.group for s in catalogue.SUBTYPES.values()}
    assert groups == set(catalogue.SUBTYPE_GROUPS)
    for s in catalogue.SUBTYPES.values():
        assert all(re.fullmatch(r"[A-Z][A-Z0-9]+", g) for g in s.genes), s.code
        assert not s.mondo or re.fullmatch(r"MONDO:\d{7}", s.mondo), s.code
