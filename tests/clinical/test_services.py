"""Clinical write services: course overlap, the label dose table, all-or-nothing visits,
batched evaluation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from clinical import catalogue, services
from clinical.models import LabResult, Skinfold, TreatmentCourse, Visit
from registry.models import AuditEvent, PhenotypeObservation

D = Decimal


# --- the label dose table (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "sex", "mg", "ml", "max_mg", "row"),
    [
        ("30", "female", "1.80", "0.360", "3.90", "light"),  # 0.06 mg/kg, max 0.13 mg/kg
        ("40", "male", "2.40", "0.480", "5.20", "light"),  # 40 kg is still the <= 40 kg row
        ("40.1", "female", "5.00", "1.000", "10.00", "female"),
        ("40.1", "male", "2.50", "0.500", "10.00", "male"),
        ("70", "female", "5.00", "1.000", "10.00", "female"),
        ("85", "male", "2.50", "0.500", "10.00", "male"),
        ("85", "other", "2.50", "0.500", "10.00", "male"),  # conservative row for other/unknown
        ("85", "unknown", "2.50", "0.500", "10.00", "male"),
    ],
)
def test_metreleptin_start_dose_follows_the_label_rows(weight, sex, mg, ml, max_mg, row):
    s = catalogue.metreleptin_start_dose(D(weight), sex)
    assert (s.mg, s.ml, s.max_mg) == (D(mg), D(ml), D(max_mg))
    assert s.row == catalogue.METRELEPTIN_LABEL[row]
    assert s.mg_per_kg == (D(mg) / D(weight)).quantize(D("0.001"))


@pytest.mark.parametrize(
    ("daily", "weight", "above"),
    [("5.2", "40", False), ("5.21", "40", True), ("10", "60", False), ("10.01", "60", True)],
)
def test_metreleptin_label_maximum(daily, weight, above):
    assert catalogue.metreleptin_above_max(D(daily), D(weight)) is above


# --- courses ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_overlapping_course_of_the_same_drug_is_refused(clinician_a, patient_a):
    first = services.course_start(
        patient=patient_a,
        drug="metformin",
        start_date=dt.date(2020, 1, 1),
        dose="1000",
        dose_unit="mg/day",
        by=clinician_a,
    )
    n_courses, n_audit = TreatmentCourse.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.course_start(
            patient=patient_a,
            drug="metformin",
            start_date=dt.date(2021, 1, 1),
            dose="500",
            dose_unit="mg/day",
            by=clinician_a,
        )
    assert "Overlaps the Metformin course from 1 Jan 2020 (ongoing)" in exc.value.message_dict["start_date"][0]
    assert (TreatmentCourse.objects.count(), AuditEvent.objects.count()) == (n_courses, n_audit)
    # another drug on the same dates is fine; so is the same drug after the first stops
    services.course_start(
        patient=patient_a, drug="statin", start_date=dt.date(2021, 1, 1), dose="20", dose_unit="mg/day", by=clinician_a
    )
    services.course_stop(
        course=first, end_date=dt.date(2020, 12, 31), stop_reason="ineffective", by=clinician_a, reason="not effective"
    )
    services.course_start(
        patient=patient_a,
        drug="metformin",
        start_date=dt.date(2021, 1, 1),
        dose="500",
        dose_unit="mg/day",
        by=clinician_a,
    )
    assert TreatmentCourse.objects.filter(patient=patient_a, drug="metformin").count() == 2


@pytest.mark.django_db
def test_course_end_before_start_and_implausible_doses_are_refused(clinician_a, patient_a):
    with pytest.raises(ValidationError) as exc:
        services.course_start(
            patient=patient_a,
            drug="metformin",
            start_date=dt.date(2020, 1, 1),
            end_date=dt.date(2019, 1, 1),
            dose="9000",
            dose_unit="mg/day",
            by=clinician_a,
        )
    errors = exc.value.message_dict
    assert "before the start date" in errors["end_date"][0]
    assert "Metformin 9000 mg/day is implausible (above 3000 mg/day)" in errors["dose"][0]
    assert not TreatmentCourse.objects.exists()


@pytest.mark.django_db
def test_metreleptin_only_impossible_doses_are_refused(clinician_a, patient_a):
    """Above 1 mg/kg/day or 40 mg/day is a typing slip and refused; an overdose above the
    label maximum is recorded (its alert must fire, RULES.md 5)."""
    services.visit_record(patient=patient_a, by=clinician_a, visit_date=dt.date(2020, 1, 1), weight_kg="30")
    with pytest.raises(ValidationError) as exc:
        services.course_start(
            patient=patient_a,
            drug="metreleptin",
            start_date=dt.date(2020, 1, 2),
            dose="30.5",
            dose_unit="mg/day",
            by=clinician_a,
        )
    assert "above the plausible 1 mg/kg/day" in exc.value.message_dict["dose"][0]
    course = services.course_start(
        patient=patient_a,
        drug="metreleptin",
        start_date=dt.date(2020, 1, 2),
        dose="10",  # 0.33 mg/kg/day: far above the label, recorded
        dose_unit="mg/day",
        by=clinician_a,
    )
    assert list(course.doses.values_list("dose", flat=True)) == [D("10")]
    with pytest.raises(ValidationError, match="above 40 mg/day"):
        services.dose_change_record(
            course=course, effective_date=dt.date(2020, 2, 1), dose="41", dose_unit="mg/day", by=clinician_a
        )


# --- visits -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_visit_with_a_bad_lab_row_writes_nothing(clinician_a, patient_a):
    counts = lambda: (  # noqa: E731
        Visit.objects.count(),
        LabResult.objects.count(),
        Skinfold.objects.count(),
        PhenotypeObservation.objects.count(),
        AuditEvent.objects.count(),
    )
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.visit_record(
            patient=patient_a,
            by=clinician_a,
            visit_date=dt.date(2024, 1, 10),
            weight_kg="55.2",
            labs=[
                services.LabEntry("triglycerides", "300", "mg/dL"),
                services.LabEntry("hba1c", "7.1", "%"),
                services.LabEntry("leptin", "2", "furlongs"),
            ],
            skinfolds=[("triceps", "4.5")],
            phenotypes=[("HP:0009125", False)],
        )
    errors = exc.value.message_dict
    assert set(errors) == {"labs.2.unit"}
    assert "'furlongs' is not accepted for Leptin" in errors["labs.2.unit"][0]
    assert counts() == before


@pytest.mark.django_db
def test_visit_collects_every_error_before_writing(clinician_a, patient_a):
    with pytest.raises(ValidationError) as exc:
        services.visit_record(
            patient=patient_a,
            by=clinician_a,
            visit_date=dt.date(2024, 1, 10),
            weight_kg="-3",
            systolic_bp=80,
            diastolic_bp=90,
            labs=[services.LabEntry("triglycerides", "15000", "mmol/L")],
            skinfolds=[("elbow", "3")],
            phenotypes=[("HP:9999999", False)],
        )
    assert {"weight_kg", "diastolic_bp", "labs.0.value", "skinfolds.0", "phenotypes.0"} <= set(exc.value.message_dict)
    assert not Visit.objects.exists()


@pytest.mark.django_db
def test_good_visit_writes_its_parts_in_one_go(clinician_a, patient_a):
    visit = services.visit_record(
        patient=patient_a,
        by=clinician_a,
        visit_date=dt.date(2024, 1, 10),
        weight_kg="55.2",
        height_cm="160",
        labs=[services.LabEntry("triglycerides", "300", "mg/dL"), services.LabEntry("hba1c", "53", "mmol/mol")],
        skinfolds=[("triceps", "4.5"), ("calf", "3")],
        phenotypes=[("HP:0009125", False), ("HP:0001733", True)],
    )
    assert visit.lab_results.count() == 2 and visit.skinfolds.count() == 2 and visit.phenotypes.count() == 2
    assert visit.bmi == D("21.6")
    assert set(visit.lab_results.values_list("collected_on", flat=True)) == {dt.date(2024, 1, 10)}


# --- batched evaluation -------------------------------------------------------------------


@pytest.mark.django_db
def test_evaluations_batched_enqueues_once_for_all_patients(
    clinician_a, patient_a, patient_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, services.evaluations_batched():
        for value in ("1", "2", "3"):
            services.lab_result_record(
                patient=patient_a,
                analyte="leptin",
                value=value,
                unit="ng/mL",
                collected_on=dt.date(2024, 1, 1),
                by=clinician_a,
            )
        services.lab_result_record(
            patient=patient_b,
            analyte="leptin",
            value="4",
            unit="ng/mL",
            collected_on=dt.date(2024, 1, 1),
            by=clinician_a,
        )
    assert len(callbacks) == 1  # one chunked evaluation for both patients
    callbacks[0]()  # tasks run in-process in these tests
    for patient in (patient_a, patient_b):
        patient.refresh_from_db()
        assert not patient.needs_evaluation and patient.evaluated_at is not None
    with django_capture_on_commit_callbacks() as callbacks:
        services.lab_result_record(
            patient=patient_a,
            analyte="leptin",
            value="5",
            unit="ng/mL",
            collected_on=dt.date(2024, 1, 1),
            by=clinician_a,
        )
    assert len(callbacks) == 1  # outside the block: one per write, as before
