"""The incremental evaluation: what decides that a patient is unchanged, and that nothing
else is written for them; snapshots and responses kept in line row by row.

Inputs are changed straight in the tables (as a data fix or a restore would), not through
the services, so the outbox flag does not announce them: the key alone must notice.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import F

from clinical import evaluation_store, fingerprint
from clinical.evaluation import patient_evaluate, patients_evaluate
from clinical.models import Alert, CourseResponse, DoseChange, LabResult, TreatmentCourse, TrendSnapshot, Visit
from registry.models import Diagnosis, Patient
from tests.clinical import golden_cohort
from tests.factories import make_course, make_lab, make_visit

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 1)


@pytest.fixture
def record(patient_a, clinician_a):
    """A patient on metreleptin with labs of three analytes, weights and a dose change."""
    make_visit(patient_a, visit_date=dt.date(2024, 1, 1), weight_kg="60", by=clinician_a)
    make_visit(patient_a, visit_date=dt.date(2024, 4, 1), weight_kg="52", by=clinician_a)
    course = make_course(patient_a, start_date=dt.date(2024, 1, 1), by=clinician_a)
    for on, tg, a1c in [(dt.date(2023, 12, 1), "900", "9.1"), (dt.date(2025, 1, 2), "1200", "7.2")]:
        make_lab(patient_a, tg, collected_on=on, by=clinician_a)
        make_lab(patient_a, a1c, analyte="hba1c", unit="%", collected_on=on, by=clinician_a)
    make_lab(patient_a, "50", analyte="glucose", unit="mg/dL", collected_on=dt.date(2025, 2, 1), by=clinician_a)
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    return patient_a, course


def _key(patient) -> str:
    return Patient.objects.values_list("evaluation_key", flat=True).get(pk=patient.pk)


def test_the_key_names_the_rules_the_date_and_the_inputs(record):
    patient, _ = record
    version, day, digest = _key(patient).split("/")
    assert version == fingerprint.rules_version() and len(version) == 12
    assert day == TODAY.isoformat()
    assert len(digest) == 32
    result = patient_evaluate(patient_id=patient.pk, today=TODAY)
    assert result.unchanged and result.labs == 5 and result.flag_cleared


def _lab(patient, analyte="triglycerides"):
    return LabResult.objects.filter(patient=patient, analyte=analyte).order_by("collected_on").last()


# Each changes one input the rules read, behind the services' back.
CHANGES = {
    "lab value": lambda p, c: LabResult.objects.filter(pk=_lab(p).pk).update(canonical_value=F("canonical_value") + 1),
    "lab date": lambda p, c: LabResult.objects.filter(pk=_lab(p).pk).update(collected_on=dt.date(2025, 1, 3)),
    "lab analyte": lambda p, c: LabResult.objects.filter(pk=_lab(p, "glucose").pk).update(analyte="ldl_cholesterol"),
    "lab upper limit": lambda p, c: LabResult.objects.filter(pk=_lab(p).pk).update(reference_high=Decimal("2")),
    "lab unit": lambda p, c: LabResult.objects.filter(pk=_lab(p).pk).update(unit="mmol/L"),
    "lab deleted": lambda p, c: _lab(p).delete(),
    "lab added": lambda p, c: LabResult.objects.create(
        patient=p, analyte="alt", value=1, unit="U/L", canonical_value=1, collected_on=dt.date(2025, 3, 1)
    ),
    "course end": lambda p, c: TreatmentCourse.objects.filter(pk=c.pk).update(
        end_date=dt.date(2025, 1, 1), stop_reason="other"
    ),
    "course start": lambda p, c: TreatmentCourse.objects.filter(pk=c.pk).update(start_date=dt.date(2023, 12, 20)),
    "course drug": lambda p, c: TreatmentCourse.objects.filter(pk=c.pk).update(drug="insulin"),
    "dose": lambda p, c: DoseChange.objects.filter(course=c).update(dose=Decimal("11")),
    "dose unit": lambda p, c: DoseChange.objects.filter(course=c).update(dose_unit="mg/kg/day"),
    "weight": lambda p, c: Visit.objects.filter(patient=p, weight_kg=Decimal("52")).update(weight_kg=Decimal("51")),
    "weight removed": lambda p, c: Visit.objects.filter(patient=p, weight_kg=Decimal("52")).update(weight_kg=None),
    "sex": lambda p, c: Patient.objects.filter(pk=p.pk).update(sex="male"),
    "primary subtype": lambda p, c: Patient.objects.filter(pk=p.pk).update(primary_subtype="AGL"),
    "diagnosis added": lambda p, c: Diagnosis.objects.create(patient=p, subtype="AGL"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_of_an_input_evaluates_the_patient_again(record, change):
    patient, course = record
    before = _key(patient)
    CHANGES[change](patient, course)
    result = patient_evaluate(patient_id=patient.pk, today=TODAY)
    assert not result.unchanged
    assert _key(patient) != before
    # and what it holds is what a first evaluation of the changed record writes (less the
    # alerts it withdrew or resolved)
    state = _outputs(current=True)
    _forget_outputs()
    patient_evaluate(patient_id=patient.pk, today=TODAY, force=True)
    assert _outputs() == state


# Each changes something the rules do not read: the patient stays unchanged.
NOT_INPUTS = {
    "lab note fields": lambda p, c: LabResult.objects.filter(pk=_lab(p).pk).update(fasting=True, reference_low=1),
    "visit without weight": lambda p, c: Visit.objects.filter(patient=p).update(notes="seen", systolic_bp=120),
    "course notes": lambda p, c: TreatmentCourse.objects.filter(pk=c.pk).update(notes="well tolerated"),
    "patient birth year": lambda p, c: Patient.objects.filter(pk=p.pk).update(birth_year=1991),
}


@pytest.mark.parametrize("change", list(NOT_INPUTS))
def test_a_change_the_rules_do_not_read_leaves_the_patient_unchanged(record, change):
    patient, course = record
    before = _key(patient)
    NOT_INPUTS[change](patient, course)
    assert patient_evaluate(patient_id=patient.pk, today=TODAY).unchanged
    assert _key(patient) == before


def test_another_day_evaluates_again(record):
    patient, _ = record
    assert not patient_evaluate(patient_id=patient.pk, today=TODAY + dt.timedelta(days=1)).unchanged
    assert patient_evaluate(patient_id=patient.pk, today=TODAY + dt.timedelta(days=1)).unchanged


def test_another_release_of_the_rules_evaluates_again(record, monkeypatch):
    patient, _ = record
    _forget_outputs()  # so that a skipped evaluation shows
    patient_evaluate(patient_id=patient.pk, today=TODAY)
    assert not Alert.objects.exists()
    monkeypatch.setattr(fingerprint, "rules_version", lambda: "0123456789ab")
    result = patient_evaluate(patient_id=patient.pk, today=TODAY)
    assert not result.unchanged and result.created > 0
    assert _key(patient).startswith("0123456789ab/")


def test_force_evaluates_an_unchanged_patient(record):
    patient, _ = record
    _forget_outputs()
    assert not patient_evaluate(patient_id=patient.pk, today=TODAY, force=True).unchanged
    assert Alert.objects.filter(patient=patient).exists()


def test_a_flag_left_by_a_write_during_the_evaluation_keeps_the_old_key(record, monkeypatch):
    """The key is stored only with the cleared flag: a write that raced the evaluation
    leaves the previous key, so the next evaluation runs in full."""
    from clinical import evaluation

    patient, _ = record
    before = _key(patient)
    LabResult.objects.filter(pk=_lab(patient).pk).update(canonical_value=F("canonical_value") + 1)
    real = evaluation.load_records

    def load_then_write(patients, *, today):
        out = real(patients, today=today)
        Patient.objects.filter(pk=patient.pk).update(needs_evaluation=True, dirty_since=dt.datetime.now(dt.UTC))
        return out

    monkeypatch.setattr(evaluation, "load_records", load_then_write)
    assert not patient_evaluate(patient_id=patient.pk, today=TODAY).flag_cleared
    assert _key(patient) == before


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # an attribute of a module, not a submodule
        return False


def test_the_rules_version_covers_every_module_the_rules_import():
    """A module the rules, messages, trends or the evaluation import from clinical/ is
    listed in RULE_MODULES, so that a change to it is a new rules version."""
    exempt = {"clinical", "clinical.models"}  # the package, and the schema
    imported = set()
    for name in fingerprint.RULE_MODULES:
        tree = ast.parse(Path(importlib.util.find_spec(name).origin).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clinical"):
                imported |= {
                    m for m in [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if _is_module(m)
                }
    assert imported - exempt <= set(fingerprint.RULE_MODULES)
    assert {"clinical.alerts.rules", "clinical.trends", "clinical.catalogue"} <= imported


def test_rules_version_is_a_digest_of_the_sources(monkeypatch, tmp_path):
    fingerprint.rules_version.cache_clear()
    try:
        first = fingerprint.rules_version()
        fingerprint.rules_version.cache_clear()
        assert fingerprint.rules_version() == first  # stable
        monkeypatch.setattr(fingerprint, "RULE_MODULES", (*fingerprint.RULE_MODULES, "tests.clinical.golden_cohort"))
        fingerprint.rules_version.cache_clear()
        assert fingerprint.rules_version() != first
    finally:
        fingerprint.rules_version.cache_clear()


def test_unchanged_snapshots_and_responses_are_not_written_again(record, clinician_a):
    patient, course = record
    snaps = {s.analyte: (s.pk, s.computed_at) for s in TrendSnapshot.objects.filter(patient=patient)}
    response = CourseResponse.objects.get(course=course)
    make_lab(patient, "60", analyte="glucose", unit="mg/dL", collected_on=dt.date(2025, 3, 1), by=clinician_a)
    patient_evaluate(patient_id=patient.pk, today=TODAY)
    after = {s.analyte: (s.pk, s.computed_at) for s in TrendSnapshot.objects.filter(patient=patient)}
    assert after["triglycerides"] == snaps["triglycerides"] and after["hba1c"] == snaps["hba1c"]
    assert after["glucose"][0] == snaps["glucose"][0] and after["glucose"][1] > snaps["glucose"][1]
    assert CourseResponse.objects.get(course=course).computed_at == response.computed_at
    # the last glucose gone: its snapshot goes, the others stay as they are
    LabResult.objects.filter(patient=patient, analyte="glucose").delete()
    patient_evaluate(patient_id=patient.pk, today=TODAY)
    assert set(TrendSnapshot.objects.filter(patient=patient).values_list("analyte", flat=True)) == {
        "triglycerides",
        "hba1c",
    }


def test_without_a_digest_every_evaluation_runs_in_full_with_the_same_outputs(monkeypatch):
    """Other databases (the SQLite demo) read and write through the ORM and never skip:
    the same cohort gives the same outputs as the PostgreSQL path."""
    with_postgres = _golden_outputs(monkeypatch, postgres=True)
    Patient.objects.filter(registry_code__startswith="GOLD-").delete()
    assert _golden_outputs(monkeypatch, postgres=False) == with_postgres


def _golden_outputs(monkeypatch, *, postgres: bool):
    monkeypatch.setattr(evaluation_store, "postgres", lambda: postgres)
    ids = golden_cohort.build(patients=20, seed=3)
    for _ in range(2):
        result = patients_evaluate(patient_ids=ids, today=TODAY)
    assert result.unchanged == (len(ids) if postgres else 0)
    # a later day: alerts, snapshots and responses updated, resolved, withdrawn
    result = patients_evaluate(patient_ids=ids, today=TODAY + dt.timedelta(days=400))
    assert result.unchanged == 0 and result.updated + result.resolved + result.withdrawn > 0
    assert result.patients == result.flags_cleared == len(ids)
    keys = set(Patient.objects.filter(pk__in=ids).values_list("evaluation_key", flat=True))
    assert (keys == {""}) is not postgres
    return _outputs()


def _forget_outputs():
    Alert.objects.all().delete()
    TrendSnapshot.objects.all().delete()
    CourseResponse.objects.all().delete()


def _outputs(current: bool = False):
    """Alerts (``current``: only open ones), snapshots and responses without ids and
    timestamps."""
    course = dict(TreatmentCourse.objects.values_list("id", "public_id"))
    code = dict(Patient.objects.values_list("id", "registry_code"))
    alerts = sorted(
        (code[a.patient_id], a.rule, a.subject_key, a.status, a.message, repr(a.params), a.observed_on)
        for a in (Alert.objects.filter(status="open") if current else Alert.objects.all())
    )
    snapshots = sorted(
        (code[s.patient_id], s.analyte, repr(s.months), s.latest_value, s.slope_per_year, s.n_values, s.nadir_on)
        for s in TrendSnapshot.objects.all()
    )
    responses = sorted(
        (str(course[r.course_id]), r.response_class, r.hba1c_change, r.provisional)
        for r in CourseResponse.objects.all()
    )
    return alerts, snapshots, responses
