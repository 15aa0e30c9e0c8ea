"""patient_evaluate against the database: upserts, resolution, snapshots, the outbox flag."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from clinical import services
from clinical.evaluation import patient_evaluate, patients_evaluate
from clinical.models import Alert, AlertStatus, CourseResponse, TrendSnapshot
from clinical.services import alert_acknowledge
from registry.models import Patient
from tests.factories import make_course, make_visit

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 1)


def lab(patient, by, analyte, value, unit, on, **kw):
    return services.lab_result_record(
        patient=patient, analyte=analyte, value=value, unit=unit, collected_on=on, by=by, **kw
    )


def test_tg_severe_alert_with_evidence_params_and_rank(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert = Alert.objects.get(patient=patient_a)
    assert (alert.rule, alert.severity, alert.severity_rank, alert.status) == ("TG_SEVERE", "critical", 0, "open")
    assert alert.lab_result_id == result.pk
    assert alert.subject_key == f"lab:{result.public_id}"
    assert alert.params["value"] == "13.548"
    assert "1200 mg/dL" in alert.message and "1000 mg/dL" in alert.message


def test_reevaluation_never_duplicates(patient_a, clinician_a):
    lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    for _ in range(3):
        patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    assert Alert.objects.filter(patient=patient_a).count() == 1


def test_edit_updates_params_of_the_same_event_alert(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="1500")
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert = Alert.objects.get(patient=patient_a)
    assert "1500 mg/dL" in alert.message


def metreleptin_patient(patient, by, start=dt.date(2024, 1, 1)):
    make_visit(patient=patient, by=by, visit_date=start, weight_kg="60")
    return make_course(patient=patient, start_date=start, by=by)


def test_state_rule_resolves_and_reopens_on_the_same_row(patient_a, clinician_a):
    metreleptin_patient(patient_a, clinician_a)
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert = Alert.objects.get(patient=patient_a, rule="MONITORING_OVERDUE")
    assert alert.status == AlertStatus.OPEN and alert.subject_key == "patient"
    assert alert.params["missing"] == ["hba1c", "triglycerides"]
    lab(patient_a, clinician_a, "hba1c", "7.1", "%", dt.date(2025, 5, 1))
    lab(patient_a, clinician_a, "triglycerides", "150", "mg/dL", dt.date(2025, 5, 1))
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at is not None
    # Time passes: both values are older than 183 days again.
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2025, 12, 1))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.resolved_at is None
    assert Alert.objects.filter(patient=patient_a, rule="MONITORING_OVERDUE").count() == 1


def test_acknowledged_event_alert_is_not_reopened(patient_a, clinician_a):
    lab(patient_a, clinician_a, "glucose", "50", "mg/dL", dt.date(2025, 1, 10))
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert = Alert.objects.get(patient=patient_a)
    alert_acknowledge(alert=alert, by=clinician_a, note="treated")
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledge_note == "treated"


def test_snapshots_and_course_response_replaced(patient_a, clinician_a):
    metreleptin_patient(patient_a, clinician_a, start=dt.date(2023, 1, 1))
    lab(patient_a, clinician_a, "hba1c", "9.0", "%", dt.date(2022, 12, 20))  # baseline
    lab(patient_a, clinician_a, "hba1c", "7.5", "%", dt.date(2024, 1, 1))  # month 12 (day 365)
    lab(patient_a, clinician_a, "hba1c", "7.9", "%", dt.date(2025, 1, 1))
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    snap = TrendSnapshot.objects.get(patient=patient_a, analyte="hba1c")
    assert snap.baseline_value == pytest.approx(9.0) and snap.baseline_on == dt.date(2022, 12, 20)
    assert snap.months["12"]["change"] == pytest.approx(-1.5)
    assert snap.nadir_value == pytest.approx(7.5)
    assert snap.latest_value == pytest.approx(7.9)
    assert snap.slope_per_year is None  # only 2 values in the last 730 days
    response = CourseResponse.objects.get(course__patient=patient_a)
    assert response.response_class == "responder" and response.hba1c_change == pytest.approx(-1.5)
    assert TrendSnapshot.objects.filter(patient=patient_a).count() == 1


def test_flag_cleared_only_when_unchanged(patient_a, clinician_a):
    lab(patient_a, clinician_a, "glucose", "90", "mg/dL", dt.date(2025, 1, 10))
    Patient.objects.filter(pk=patient_a.pk).update(needs_evaluation=True)
    result = patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    assert result.flag_cleared
    p = Patient.objects.get(pk=patient_a.pk)
    assert p.needs_evaluation is False and p.evaluated_at is not None


def _write_during_load(monkeypatch, patient_ids):
    """Make a write to ``patient_ids`` commit while the evaluation reads the records."""
    from clinical import evaluation

    real = evaluation.load_records

    def load_then_write(patients, *, today):
        out = real(patients, today=today)
        for p in patients:
            if p["id"] in patient_ids:
                Patient.objects.filter(pk=p["id"]).update(
                    needs_evaluation=True, dirty_since=p["dirty_since"] + dt.timedelta(seconds=1)
                )
        return out

    monkeypatch.setattr(evaluation, "load_records", load_then_write)


def test_write_during_evaluation_keeps_the_flag(patient_a, clinician_a, monkeypatch):
    """A write that commits while the evaluation runs moves dirty_since on: the flag stays."""
    lab(patient_a, clinician_a, "glucose", "90", "mg/dL", dt.date(2025, 1, 10))
    _write_during_load(monkeypatch, {patient_a.pk})
    result = patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    assert not result.flag_cleared
    assert Patient.objects.get(pk=patient_a.pk).needs_evaluation is True


def test_write_during_chunk_evaluation_keeps_only_that_patients_flag(
    patient_a, patient_b, clinician_a, clinician_b, monkeypatch
):
    lab(patient_a, clinician_a, "glucose", "90", "mg/dL", dt.date(2025, 1, 10))
    lab(patient_b, clinician_b, "glucose", "90", "mg/dL", dt.date(2025, 1, 10))
    _write_during_load(monkeypatch, {patient_b.pk})
    result = patients_evaluate(patient_ids=[patient_a.pk, patient_b.pk], today=TODAY)
    assert (result.patients, result.flags_cleared) == (2, 1)
    flags = dict(Patient.objects.filter(pk__in=[patient_a.pk, patient_b.pk]).values_list("id", "needs_evaluation"))
    assert flags == {patient_a.pk: False, patient_b.pk: True}


def test_missing_patient_returns_none(db):
    assert patient_evaluate(patient_id=987654321) is None


def test_evaluation_query_count_does_not_grow_with_the_record(patient_a, clinician_a, django_assert_num_queries):
    metreleptin_patient(patient_a, clinician_a)
    lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    lab(patient_a, clinician_a, "glucose", "50", "mg/dL", dt.date(2025, 1, 10))
    # savepoint, advisory lock, patient with the digest of its inputs, diagnoses, labs,
    # courses, doses, weights, stored alerts, insert alerts, stored + insert snapshots,
    # stored + insert course responses, clear the flag, release savepoint (no withdrawal:
    # no audit lookups)
    with django_assert_num_queries(16):
        patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    for i in range(10):
        lab(patient_a, clinician_a, "glucose", str(45 + i), "mg/dL", dt.date(2025, 2, 1 + i))
    # 15: the 10 new alerts go in the one insert, unchanged alerts are not written; the
    # glucose snapshot is updated in one query, the unchanged course response not at all
    with django_assert_num_queries(15):
        patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    # unchanged: savepoint, lock, patient with its digest, clear the flag, release
    with django_assert_num_queries(5):
        patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    # 50 and 45..53 mg/dL are below 54; 54 itself is LOW_GLUCOSE only
    assert Alert.objects.filter(patient=patient_a, rule="HYPOGLYCEMIA").count() == 10
    assert Alert.objects.filter(patient=patient_a, rule="LOW_GLUCOSE").count() == 1


def test_dose_above_max_points_at_the_dose(patient_a, clinician_a):
    course = metreleptin_patient(patient_a, clinician_a)
    change = services.dose_change_record(
        course=course, effective_date=dt.date(2024, 3, 1), dose=Decimal("12"), dose_unit="mg/day", by=clinician_a
    )
    patient_evaluate(patient_id=patient_a.pk, today=TODAY)
    alert = Alert.objects.get(patient=patient_a, rule="METRELEPTIN_DOSE_ABOVE_MAX")
    assert alert.dose_change_id == change.pk
    assert "10 mg/day" in alert.message


def _chunk_cohort(patients, by, site):
    """Patients with every kind of evidence: labs, a course with a dose change, weights."""
    from tests.factories import make_patient

    out = list(patients)
    for i in range(4):
        out.append(make_patient(site=site, by=by, mrn=f"CHUNK-{i}"))
    for i, p in enumerate(out):
        lab(p, by, "triglycerides", str(600 + 300 * i), "mg/dL", dt.date(2024, 1, 10))
        lab(p, by, "glucose", "50", "mg/dL", dt.date(2024, 2, 10 + i))
        course = metreleptin_patient(p, by)
        services.dose_change_record(
            course=course,
            effective_date=dt.date(2024, 3, 1),
            dose=Decimal("12"),
            dose_unit="mg/day",
            by=by,
        )
    return out


def _state():
    return (
        sorted(
            Alert.objects.values_list(
                "patient_id",
                "rule",
                "subject_key",
                "observed_on",
                "message",
                "status",
                "lab_result_id",
                "course_id",
                "dose_change_id",
                "visit_id",
            )
        ),
        sorted(
            TrendSnapshot.objects.values_list("patient_id", "analyte", "n_values", "latest_value", "slope_per_year")
        ),
        sorted(CourseResponse.objects.values_list("course_id", "response_class", "hba1c_change")),
    )


def test_chunk_evaluation_equals_one_patient_at_a_time(patient_a, clinician_a, site_a):
    cohort = _chunk_cohort([patient_a], clinician_a, site_a)
    result = patients_evaluate(patient_ids=[p.pk for p in cohort], today=TODAY)
    assert result.patients == len(cohort) and result.created > 3 * len(cohort)
    assert result.flags_cleared == len(cohort)
    chunked = _state()
    Alert.objects.all().delete()
    TrendSnapshot.objects.all().delete()
    CourseResponse.objects.all().delete()
    # outputs removed behind the evaluation's back: their inputs did not change, so only
    # a forced evaluation writes them again
    for p in cohort:
        patient_evaluate(patient_id=p.pk, today=TODAY)
    assert _state() == ([], [], [])
    for p in cohort:
        patient_evaluate(patient_id=p.pk, today=TODAY, force=True)
    assert _state() == chunked
    # re-evaluating the chunk changes nothing and creates nothing
    again = patients_evaluate(patient_ids=[p.pk for p in cohort], today=TODAY)
    assert (again.created, again.updated, again.reopened, again.resolved) == (0, 0, 0, 0)
    assert _state() == chunked


def test_chunk_query_count_does_not_grow_with_the_chunk(patient_a, clinician_a, site_a, django_assert_num_queries):
    cohort = _chunk_cohort([patient_a], clinician_a, site_a)
    # savepoint, advisory locks (one query), patients with their digests, diagnoses, labs,
    # doses, courses, weights, stored alerts, insert alerts, stored + insert snapshots,
    # stored + insert course responses, clear the flags, release savepoint
    with django_assert_num_queries(16):
        patients_evaluate(patient_ids=[p.pk for p in cohort[:2]], today=TODAY)
    with django_assert_num_queries(16):
        patients_evaluate(patient_ids=[p.pk for p in cohort], today=TODAY)
    # nothing changed for the first two; the other three get their alerts and responses
    assert Alert.objects.filter(patient__in=cohort[2:]).exists()
    assert CourseResponse.objects.filter(course__patient__in=cohort).count() == len(cohort)


def test_chunk_skips_deleted_patients_and_resolves_state_alerts(patient_a, patient_b, clinician_a, clinician_b):
    metreleptin_patient(patient_a, clinician_a)
    patients_evaluate(patient_ids=[patient_a.pk, patient_b.pk, 987654321], today=TODAY)
    overdue = Alert.objects.get(patient=patient_a, rule="MONITORING_OVERDUE")
    assert overdue.status == AlertStatus.OPEN and overdue.observed_on is not None
    lab(patient_a, clinician_a, "hba1c", "7.0", "%", dt.date(2025, 5, 1))
    lab(patient_a, clinician_a, "triglycerides", "150", "mg/dL", dt.date(2025, 5, 1))
    result = patients_evaluate(patient_ids=[patient_a.pk, patient_b.pk], today=TODAY)
    assert result.resolved == 1
    assert Alert.objects.get(pk=overdue.pk).status == AlertStatus.RESOLVED
