"""De-identification and small cells: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.exports import deid, smallcell

KEY_A = b"a" * 32
KEY_B = b"b" * 32
TODAY = dt.date(2026, 6, 1)


def test_pseudonym_is_stable_within_a_project_and_differs_across_projects():
    pid = uuid.uuid4()
    assert deid.pseudonym(KEY_A, pid) == deid.pseudonym(KEY_A, str(pid))
    assert deid.pseudonym(KEY_A, pid) != deid.pseudonym(KEY_B, pid)
    assert deid.pseudonym(KEY_A, pid).startswith("P") and len(deid.pseudonym(KEY_A, pid)) == 21


def test_pseudonym_reveals_neither_the_uuid_nor_the_shift():
    pid = uuid.UUID("0b1f6c3e-8a2d-4c5e-9f7a-1d2e3f4a5b6c")
    p = deid.pseudonym(KEY_A, pid)
    assert pid.hex[:8] not in p
    assert p != deid.pseudonym(KEY_A, uuid.UUID(int=pid.int ^ 1))


@given(st.uuids(), st.binary(min_size=16, max_size=64))
def test_shift_is_0_to_364_and_stable(pid, key):
    shift = deid.date_shift_days(key, pid)
    assert 0 <= shift <= 364
    assert shift == deid.date_shift_days(key, pid)


def test_shifts_spread_over_the_year():
    shifts = {deid.date_shift_days(KEY_A, uuid.UUID(int=i)) for i in range(2000)}
    assert len(shifts) > 300


@given(st.dates(min_value=dt.date(1900, 1, 1)), st.dates(min_value=dt.date(1900, 1, 1)), st.integers(0, 364))
def test_shifting_keeps_intervals(a, b, shift):
    assert (deid.shift_date(a, shift) - deid.shift_date(b, shift)) == (a - b)
    assert deid.shift_date(a, shift) <= a


@pytest.mark.parametrize(
    ("day", "anchor", "expected"),
    [
        (dt.date(2020, 1, 11), dt.date(2020, 1, 1), 10),
        (dt.date(2019, 12, 31), dt.date(2020, 1, 1), -1),
        (None, dt.date(2020, 1, 1), None),
        (dt.date(2020, 1, 1), None, None),
    ],
)
def test_relative_days(day, anchor, expected):
    assert deid.relative_days(day, anchor) == expected


@pytest.mark.parametrize(
    ("birth_year", "year", "age", "decade"),
    [
        (1990, 1990, "36", "1990s"),
        (1937, 1937, "89", "1930s"),
        (1936, None, "90+", "90+"),
        (1920, None, "90+", "90+"),
        (None, None, None, "unknown"),
    ],
)
def test_birth_year_only_and_90_plus(birth_year, year, age, decade):
    assert deid.export_birth_year(birth_year, TODAY) == year
    assert deid.export_age(birth_year, TODAY) == age
    assert deid.birth_decade(birth_year, TODAY) == decade


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (12, 12),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_formula_cells_are_neutralised(cell, expected):
    assert deid.neutralise_cell(cell) == expected


@pytest.mark.parametrize("name", ["default", "study-1", "a_b"])
def test_project_names(name):
    assert deid.check_project_name(name) == name


@pytest.mark.parametrize("name", ["", "Upper", "../x", "a b", "-x", "x" * 64])
def test_bad_project_names(name):
    with pytest.raises(ValueError):
        deid.check_project_name(name)


# --- small cells ------------------------------------------------------------------------


def _group(subtype: str) -> str:
    return subtype.rstrip("0123456789") or subtype


def qi(sex="female", decade="1980s", subtype="FPLD2", country="FR"):
    return smallcell.QuasiIdentifiers(sex, decade, subtype, country)


def test_large_groups_stay_as_recorded():
    records = [(i, qi()) for i in range(5)]
    decisions, report = smallcell.protect(records, k=5, group_of=_group)
    assert all(d.level == 0 for d in decisions.values())
    assert report.kept_as_recorded == 5 and report.suppressed == 0


def test_small_groups_are_generalised_then_suppressed():
    records = [(i, qi()) for i in range(5)]
    # Three FPLD3 + two FPLD4 of the same sex/decade/country: together a group of FPLD.
    records += [(10 + i, qi(subtype="FPLD3")) for i in range(3)]
    records += [(20 + i, qi(subtype="FPLD4")) for i in range(2)]
    records += [(30, qi(sex="male", subtype="CGL1", country="DE"))]  # alone whatever happens
    decisions, report = smallcell.protect(records, k=5, group_of=_group)
    assert {decisions[i].level for i in range(5)} == {0}
    for i in (10, 11, 12, 20, 21):
        assert decisions[i].level == 1 and decisions[i].qi.subtype == "FPLD"
    assert decisions[30].suppressed
    assert report.as_dict()["patients_generalised"] == {"subtype_to_group": 5}
    assert report.suppressed == 1


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["female", "male"]),
            st.sampled_from(["1960s", "1970s", "1980s", "90+"]),
            st.sampled_from(["FPLD1", "FPLD2", "CGL1", "CGL2", "AGL"]),
            st.sampled_from(["FR", "DE", "IT"]),
        ),
        max_size=80,
    ),
    st.integers(2, 6),
)
def test_every_shown_group_has_at_least_k_patients(rows, k):
    records = [(i, smallcell.QuasiIdentifiers(*row)) for i, row in enumerate(rows)]
    decisions, report = smallcell.protect(records, k=k, group_of=_group)
    shown = Counter((d.level, d.qi) for d in decisions.values() if not d.suppressed)
    assert all(n >= k for n in shown.values())
    assert report.kept_as_recorded + sum(report.generalised.values()) + report.suppressed == len(records)
