"""Unit slips (RULES.md 5): the pure check, the hint on refusals, the API's unit_suspect
and the form's "Did you mean ...?" confirmation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from clinical import services, unit_slips
from clinical.models import LabResult
from tests.registry.test_api import api_for


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "alt_unit"),
    [
        ("triglycerides", "250", "mmol/L", "mg/dL"),  # 2.82 mmol/L as mg/dL
        ("glucose", "95", "mmol/L", "mg/dL"),  # 5.27 mmol/L as mg/dL
        ("triglycerides", "20", "mmol/L", None),  # a real 20 mmol/L: 0.23 as mg/dL is below 1.7 / 4
        ("triglycerides", "17", "mmol/L", None),  # not above 10 x 1.7
        ("triglycerides", "250", "mg/dL", None),
    ],
)
def test_unit_suspect(analyte, value, unit, alt_unit):
    got = unit_slips.unit_suspect(analyte, D(value), unit)
    assert (got.unit if got else None) == alt_unit


def test_question_names_both_readings():
    alt = unit_slips.unit_suspect("triglycerides", D("250"), "mmol/L")
    assert f"Did you mean {alt.text('triglycerides')}?" == "Did you mean 250 mg/dL (2.82 mmol/L)?"


def test_hard_limit_refusal_says_did_you_mean():
    with pytest.raises(ValidationError) as exc:
        services.lab_validate(analyte="hba1c", value="7.2", unit="mmol/mol", collected_on=None)
    assert "HbA1c 7.2 mmol/mol is implausible" in exc.value.message_dict["value"][0]
    assert "did you mean 7.2 %?" in exc.value.message_dict["value"][0].lower()


@pytest.mark.django_db
def test_api_unit_suspect_needs_confirm_unusual(clinician_a, patient_a):
    api = api_for(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/labs/"
    body = {"analyte": "triglycerides", "value": 250, "unit": "mmol/L", "collected_on": "2024-03-01"}
    r = api.post(url, body, format="json")
    assert r.status_code == 400 and r.json()["code"] == "unit_suspect"
    assert r.json()["alternative"]["unit"] == "mg/dL" and "Did you mean 250 mg/dL (2.82 mmol/L)?" in str(r.json())
    assert not LabResult.objects.exists()
    ok = api.post(url, {**body, "confirm_unusual": True}, format="json")
    assert ok.status_code == 201 and ok.json()["unit"] == "mmol/L"


@pytest.mark.django_db
def test_form_asks_and_both_choices_work(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    url = f"/patients/{patient_a.public_id}/labs/new/"
    post = {"analyte": "triglycerides", "value": "250", "unit": "mmol/L", "collected_on": "2024-03-01", "fasting": ""}
    page = client.post(url, post)
    assert page.status_code == 200 and "Did you mean 250 mg/dL (2.82 mmol/L)?" in page.content.decode()
    assert not LabResult.objects.exists()
    switched = client.post(url, {**post, "slip": "switch", "slip_unit": "mg/dL"})
    assert switched.status_code == 302
    assert LabResult.objects.get().unit == "mg/dL"
    kept = client.post(url, {**post, "collected_on": "2024-03-02", "slip": "keep", "slip_unit": "mg/dL"})
    assert kept.status_code == 302
    assert LabResult.objects.get(collected_on="2024-03-02").unit == "mmol/L"


@pytest.mark.django_db
def test_import_marks_rows_and_needs_one_confirmation_for_all(clinician_a, patient_a):
    from clinical.services.lab_import import lab_import_confirm, lab_import_upload

    code = patient_a.registry_code
    text = (
        "registry_code,analyte,value,unit,collected_on\r\n"
        f"{code},triglycerides,250,mmol/L,2024-03-01\r\n"
        f"{code},glucose,95,mmol/L,2024-03-02\r\n"
        f"{code},triglycerides,2.1,mmol/L,2024-03-03\r\n"
    )
    record, plan = lab_import_upload(user=clinician_a, filename="labs.csv", content=text.encode())
    assert plan.ok and plan.unit_suspect_count == 2
    assert "Did you mean 250 mg/dL (2.82 mmol/L)?" in plan.rows[0].unit_suspect and not plan.rows[2].unit_suspect
    with pytest.raises(ValidationError, match="2 row"):
        lab_import_confirm(lab_import=record, by=clinician_a)
    assert not LabResult.objects.exists()
    record, _plan = lab_import_confirm(lab_import=record, by=clinician_a, confirm_unusual=True)
    assert LabResult.objects.count() == 3
