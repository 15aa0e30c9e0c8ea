"""The import's per-file cell checks (pure, no database): the short path for plain
numbers gives what ``lab_validate`` gives, with the same unit-slip question, and every
other value gets ``lab_validate``'s own messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical import catalogue, import_rows, unit_slips
from clinical.import_rows import CheckedLab, RowChecker, suspect_message
from clinical.services.labs import lab_validate

TODAY = dt.date(2025, 1, 1)
ANALYTES = sorted(catalogue.ANALYTES)
SPELLINGS = sorted(
    {s for a in catalogue.ANALYTES.values() for u in a.units for s in (u.unit, u.ucum, *u.aliases) if s}
    | {"MG/DL", " mmol/l ", "\u00b5mol/L", "g/L", "", "%%"}
)


def expected(analyte: str, value: str, unit: str, day: dt.date | None):
    """What the import did per row before the cache: lab_validate, then the slip check."""
    try:
        v = lab_validate(analyte=analyte, value=value, unit=unit, collected_on=day, today=TODAY, confirm_unusual=True)
    except ValidationError as exc:
        return exc.message_dict
    suspect = unit_slips.unit_suspect(analyte, v.value, v.unit)
    question = "" if suspect is None else f"Did you mean {suspect.text(analyte)}?"
    return (str(v.value), v.unit, str(v.canonical), question)


def got(checker: RowChecker, analyte: str, value: str, unit: str, day: dt.date | None):
    result = checker.lab(catalogue.ANALYTES[analyte], value, unit, day)
    if not isinstance(result, CheckedLab):
        return result
    question = result.unit_suspect.split(" unit. ", 1)[1] if result.unit_suspect else ""
    return (str(result.value), result.unit, str(result.canonical), question)


plain_numbers = st.builds(
    lambda whole, frac: whole + ("." + frac if frac else ""),
    st.from_regex(r"[0-9]{1,7}", fullmatch=True),
    st.from_regex(r"[0-9]{0,8}", fullmatch=True),
)
other_numbers = st.sampled_from(
    ["5,2", "-1", "+4", "1e3", "1,250", " 7.4", "nan", "0", "0.0000001", "١٢", "1.", ".5", "1 000", "abc", ""]
)
days = st.one_of(
    st.none(),
    st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2026, 12, 31)),
)


@settings(max_examples=600, deadline=None)
@given(
    analyte=st.sampled_from(ANALYTES),
    value=st.one_of(plain_numbers, other_numbers),
    unit=st.sampled_from(SPELLINGS),
    day=days,
)
def test_the_short_path_gives_what_lab_validate_gives(analyte, value, unit, day):
    checker = RowChecker(TODAY)
    assert got(checker, analyte, value, unit, day) == expected(analyte, value, unit, day)
    # cached answers are the same answers
    assert got(checker, analyte, value, unit, day) == expected(analyte, value, unit, day)


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [
        ("triglycerides", "250", "mmol/L"),  # suspect: 250 mg/dL?
        ("triglycerides", "20", "mmol/L"),  # above 10 x ULN, not suspect
        ("triglycerides", "3000", "mg/dL"),
        ("glucose", "95", "mmol/L"),
        ("hba1c", "48", "mmol/mol"),
        ("leptin", "4.5", "ug/L"),
    ],
)
def test_unit_slip_question_is_the_forms_question(analyte, value, unit):
    checker = RowChecker(TODAY)
    result = checker.lab(catalogue.ANALYTES[analyte], value, unit, dt.date(2024, 3, 1))
    assert isinstance(result, CheckedLab)
    info = catalogue.ANALYTES[analyte]
    assert result.unit_suspect == suspect_message(info, Decimal(value), result.unit)


def test_a_plain_value_does_not_go_through_lab_validate(monkeypatch):
    """The point of the cache: a plain number in a known unit is checked without the
    per-row parse and unit lookup (anything else still does go through it)."""

    def refuse(**kwargs):
        raise AssertionError("lab_validate called")

    monkeypatch.setattr(import_rows, "lab_validate", refuse)
    checker = RowChecker(TODAY)
    info = catalogue.ANALYTES["triglycerides"]
    assert isinstance(checker.lab(info, "460", "mg/dL", dt.date(2024, 3, 1)), CheckedLab)
    with pytest.raises(AssertionError, match="lab_validate called"):
        checker.lab(info, "4,6", "mmol/L", dt.date(2024, 3, 1))


def _linear_unit(info: catalogue.Analyte, spelling: str):
    """The unit lookup as a scan of every unit, the definition the table must keep."""
    key = catalogue.normalise_unit(spelling)
    for u in info.units:
        keys = {catalogue.normalise_unit(u.unit), catalogue.normalise_unit(u.ucum or u.unit)}
        if key in keys | {catalogue.normalise_unit(a) for a in u.aliases}:
            return u
    return None


@pytest.mark.parametrize("analyte", ANALYTES)
def test_unit_table_answers_like_a_scan_of_the_units(analyte):
    info = catalogue.ANALYTES[analyte]
    for spelling in [*SPELLINGS, "iu/l", "U / L", "\u03bcmol/L", "mg/dl "]:
        assert info.unit(spelling) is _linear_unit(info, spelling)


def test_cells_are_read_as_before():
    checker = RowChecker(TODAY)
    assert checker.day("2024-03-01") == dt.date(2024, 3, 1)
    assert checker.day("2024-3-1") is None and checker.day("2024-02-30") is None
    assert checker.fasting("Oui") == (True, True) and checker.fasting("") == (None, True)
    assert checker.fasting("maybe") == (None, False)
    messages, cleaned = checker.identifier("LD-\u200b000123", "registry code")
    assert cleaned == "LD-000123" and "U+200B" in messages[0]
    assert checker.identifier("LD-000123", "registry code") == ([], "LD-000123")


def test_the_collector_is_paused_only_while_rows_are_built():
    import gc

    from clinical.imports import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block turns it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
