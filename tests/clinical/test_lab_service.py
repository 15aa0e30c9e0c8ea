"""Recording a lab result: bad input is refused with a clear message and writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from clinical import services
from clinical.models import LabResult
from registry.models import AuditEvent, Patient

pytestmark = pytest.mark.django_db

DAY = dt.date(2024, 3, 1)


def _counts(patient):
    patient.refresh_from_db()
    return LabResult.objects.count(), AuditEvent.objects.count(), patient.needs_evaluation


@pytest.fixture
def clean_patient(patient_a):
    Patient.objects.filter(pk=patient_a.pk).update(needs_evaluation=False)
    return patient_a


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "field", "expected"),
    [
        ("triglycerides", "250", "mg/L", "unit", ["'mg/L'", "Triglycerides", "mmol/L, mg/dL"]),
        (
            "triglycerides",
            "15000",
            "mmol/L",
            "value",
            ["Triglycerides 15000 mmol/L is implausible", "accepted range 0.05-340 mmol/L"],
        ),
        ("leptin", "-2", "ng/mL", "value", ["Leptin -2 ng/mL is implausible", "accepted range 0-500 ng/mL"]),
        (
            "triglycerides",
            "40000",
            "mg/dL",
            "value",
            ["Triglycerides 40000 mg/dL is implausible", "accepted range 4-30115 mg/dL"],
        ),
        ("hba1c", "2", "%", "value", ["HbA1c 2 % is implausible", "accepted range 3-20 %"]),
        ("potassium", "4", "mmol/L", "analyte", ["Unknown analyte 'potassium'"]),
        ("leptin", "abc", "ng/mL", "value", ["Leptin value 'abc' is not a number"]),
        ("leptin", "NaN", "ng/mL", "value", ["finite"]),
    ],
)
def test_bad_lab_input_is_refused_and_nothing_is_written(
    clinician_a, clean_patient, analyte, value, unit, field, expected
):
    before = _counts(clean_patient)
    with pytest.raises(ValidationError) as exc:
        services.lab_result_record(
            patient=clean_patient, analyte=analyte, value=value, unit=unit, collected_on=DAY, by=clinician_a
        )
    message = " ".join(exc.value.message_dict[field])
    for part in expected:
        assert part in message, message
    assert _counts(clean_patient) == before


def test_future_collection_date_is_refused(clinician_a, clean_patient):
    before = _counts(clean_patient)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    with pytest.raises(ValidationError) as exc:
        services.lab_result_record(
            patient=clean_patient, analyte="leptin", value="3", unit="ng/mL", collected_on=tomorrow, by=clinician_a
        )
    assert "in the future" in exc.value.message_dict["collected_on"][0]
    assert _counts(clean_patient) == before


def test_good_lab_is_converted_audited_and_flags_the_patient(
    clinician_a, clean_patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        lab = services.lab_result_record(
            patient=clean_patient, analyte="triglycerides", value="1000", unit="mg/dL", collected_on=DAY, by=clinician_a
        )
    lab.refresh_from_db()
    assert (lab.value, lab.unit, lab.canonical_value) == (Decimal("1000"), "mg/dL", Decimal("11.29"))
    assert AuditEvent.objects.filter(model="clinical.LabResult", object_id=str(lab.public_id), action="create").exists()
    assert len(callbacks) == 1  # one evaluation enqueued on commit
    clean_patient.refresh_from_db()
    assert clean_patient.needs_evaluation


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "canonical"),
    [
        ("leptin", "3.2", "µg/L", Decimal("3.2")),
        ("insulin", "60", "pmol/L", Decimal("10")),
        ("insulin", "12", "u[IU]/mL", Decimal("12")),
        ("hba1c", "48", "mmol/mol", Decimal("6.542")),
        ("glucose", "100", "mg/dL", Decimal("5.55")),
        ("creatinine", "1", "mg/dL", Decimal("88.4")),
        ("alt", "0.5", "µkat/L", Decimal("30")),
    ],
)
def test_accepted_spellings_store_the_canonical_value(clinician_a, patient_a, analyte, value, unit, canonical):
    lab = services.lab_result_record(
        patient=patient_a, analyte=analyte, value=value, unit=unit, collected_on=DAY, by=clinician_a
    )
    lab.refresh_from_db()
    assert lab.canonical_value == canonical
    assert lab.unit == catalogue_unit(analyte, unit)


def catalogue_unit(analyte: str, spelling: str) -> str:
    from clinical import catalogue

    return catalogue.ANALYTES[analyte].unit(spelling).unit


def test_update_to_an_implausible_value_changes_nothing(clinician_a, patient_a):
    lab = services.lab_result_record(
        patient=patient_a, analyte="leptin", value="3", unit="ng/mL", collected_on=DAY, by=clinician_a
    )
    audits = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        services.lab_result_update(result=lab, by=clinician_a, reason="typo", expected_version=lab.version, value="-1")
    lab.refresh_from_db()
    assert lab.value == Decimal("3") and lab.version == 1
    assert AuditEvent.objects.count() == audits


@pytest.mark.parametrize("value", ["1.7721027822372518e+169", "-3.3e-197", "6.6e16"])
def test_huge_and_tiny_numbers_get_a_clear_message_not_a_crash(value):
    # Typed as text, scientific notation is refused with what to type instead (RULES.md 5) ...
    with pytest.raises(ValidationError) as exc:
        services.lab_validate(analyte="triglycerides", value=value, unit="mg/dL", collected_on=dt.date(2024, 1, 1))
    assert "scientific notation" in " ".join(exc.value.message_dict["value"])
    # ... while a JSON number of that size is a number, and implausible.
    with pytest.raises(ValidationError) as exc:
        services.lab_validate(
            analyte="triglycerides", value=float(value), unit="mg/dL", collected_on=dt.date(2024, 1, 1)
        )
    assert "implausible" in " ".join(exc.value.message_dict["value"])
    with pytest.raises(ValidationError) as exc:
        services.visit_validate(
            {"visit_date": dt.date(2024, 1, 1), "waist_cm": float(value), "dxa_arm_fat_pct": float(value)}
        )
    assert "implausible" in " ".join(exc.value.message_dict["waist_cm"])
