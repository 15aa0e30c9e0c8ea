"""The one parser of typed numbers (RULES.md 5), pure, and its use by the API and import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from clinical import imports
from clinical.services import lab_validate
from clinical.services.numbers import parse_decimal, parse_number
from tests.registry.test_api import api_for


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5,6", Decimal("5.6")),
        ("5.6", Decimal("5.6")),
        (" 120 ", Decimal("120")),
        ("1250", Decimal("1250")),
        ("1,25", Decimal("1.25")),
        ("1,2500", Decimal("1.2500")),
        ("0,125", Decimal("0.125")),
        (",5", Decimal("0.5")),
        ("12.", Decimal("12")),
        (7, Decimal(7)),
        (7.2, Decimal("7.2")),
        (0.1, Decimal("0.1")),
        (Decimal("3.30"), Decimal("3.30")),
    ],
)
def test_accepted(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("1,250", "type 1250 or 1.25"),
        ("12,500", "type 12500 or 12.5"),
        ("1.250,5", "both '.' and ','"),
        ("1,250.5", "both '.' and ','"),
        ("1 250", "spaces or separators"),
        ("1\u00a0250", "spaces or separators"),
        ("1'250", "spaces or separators"),
        ("1e3", "scientific notation"),
        ("1.2E-3", "scientific notation"),
        ("1,250,000", "more than one separator"),
        ("12abc", "is not a number"),
        ("NaN", "must be a finite number"),
        (True, "is not a number"),
    ],
)
def test_refused_with_what_to_type(raw, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(").replace(".", r"\.")):
        parse_number(raw)


def test_parse_decimal_names_the_field_and_the_text():
    errors: dict[str, list[str]] = {}
    assert parse_decimal("1,250", "value", errors, "ALT value") is None
    assert errors == {"value": ["ALT value '1,250' is ambiguous (thousands or decimals?): type 1250 or 1.25."]}
    assert parse_decimal("  ", "value", errors, "x") is None and len(errors["value"]) == 1


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False))
def test_plain_and_decimal_comma_round_trip(value):
    text = format(value, "f")
    assert parse_number(text) == value
    if "." in text and len(text.split(".")[1]) != 3:
        assert parse_number(text.replace(".", ",")) == value


def test_alt_1_250_refused_by_the_lab_check_not_stored_as_1_25():
    with pytest.raises(ValidationError) as exc:
        lab_validate(analyte="alt", value="1,250", unit="U/L", collected_on=None)
    assert "type 1250 or 1.25" in exc.value.message_dict["value"][0]


@pytest.mark.django_db
def test_api_numeric_string_and_json_number_under_the_same_rules(clinician_a, patient_a):
    api_a = api_for(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/labs/"
    body = {"analyte": "alt", "unit": "U/L", "collected_on": "2024-03-01"}
    bad = api_a.post(url, {**body, "value": "1,250"}, format="json")
    assert bad.status_code == 400 and "1250 or 1.25" in bad.json()["errors"]["value"][0]
    assert api_a.post(url, {**body, "value": "1e3"}, format="json").status_code == 400
    ok = api_a.post(url, {**body, "value": "41,5"}, format="json")
    assert ok.status_code == 201 and ok.json()["value"] == 41.5
    assert api_a.post(url, {**body, "value": 1250, "collected_on": "2024-03-02"}, format="json").status_code == 201


@pytest.mark.django_db
def test_import_row_with_ambiguous_number_is_reported(clinician_a, patient_a):
    text = (
        "registry_code,analyte,value,unit,collected_on\r\n"
        f'{patient_a.registry_code},alt,"1,250",U/L,2024-03-01\r\n'
        f'{patient_a.registry_code},alt,"41,5",U/L,2024-03-02\r\n'
    )
    plan = imports.lab_import_preview(user=clinician_a, content=text.encode(), today=dt.date(2025, 1, 1))
    assert not plan.ok
    assert any("type 1250 or 1.25" in e for e in plan.rows[0].errors)
    assert plan.rows[1].errors == []
