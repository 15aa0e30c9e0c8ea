"""Corrections and deletion of treatment courses and dose changes: services and API
(reason required, audited, If-Match like labs), and the evaluation that follows."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from clinical import services
from clinical.evaluation import patient_evaluate
from clinical.models import Alert, DoseChange, TreatmentCourse
from registry.models import AuditEvent
from registry.writekit import ConflictError
from tests.factories import make_course, make_visit
from tests.registry.test_api import api_for

START = dt.date(2024, 1, 1)


def course_url(patient, course, dose=None) -> str:
    base = f"/api/v1/patients/{patient.public_id}/treatments/{course.public_id}/"
    return f"{base}doses/{dose.public_id}/" if dose else base


@pytest.mark.django_db
def test_course_start_correction_moves_the_starting_dose_and_is_audited(patient_a, clinician_a):
    course = make_course(patient=patient_a, start_date=START, by=clinician_a)
    with pytest.raises(ValidationError) as exc:
        services.course_update(course=course, by=clinician_a, reason="", expected_version=1, start_date=START)
    assert "change_reason" in exc.value.message_dict
    services.course_update(
        course=course, by=clinician_a, reason="typo in year", expected_version=1, start_date=dt.date(2023, 1, 1)
    )
    course.refresh_from_db()
    assert course.start_date == dt.date(2023, 1, 1) and course.version == 2
    assert course.doses.get().effective_date == dt.date(2023, 1, 1)
    event = AuditEvent.objects.filter(object_id=str(course.public_id), action="update").get()
    assert event.reason == "typo in year" and event.changes["start_date"] == ["2024-01-01", "2023-01-01"]
    with pytest.raises(ConflictError):
        services.course_update(course=course, by=clinician_a, reason="x", expected_version=1, notes="stale")


@pytest.mark.django_db
def test_end_and_stop_reason_corrected_or_removed(patient_a, clinician_a):
    course = make_course(patient=patient_a, start_date=START, by=clinician_a)
    services.course_stop(course=course, end_date=dt.date(2024, 6, 1), stop_reason="ineffective", by=clinician_a)
    services.course_update(
        course=course, by=clinician_a, reason="wrong reason", expected_version=2, stop_reason="adverse_event"
    )
    services.course_update(course=course, by=clinician_a, reason="never stopped", expected_version=3, end_date=None)
    course.refresh_from_db()
    assert course.end_date is None and course.stop_reason == ""


@pytest.mark.django_db
def test_dose_correction_and_deletion_reevaluate(patient_a, clinician_a):
    make_visit(patient=patient_a, by=clinician_a, visit_date=START, weight_kg="60")
    course = make_course(patient=patient_a, start_date=START, by=clinician_a, dose="5")
    high = services.dose_change_record(
        course=course, effective_date=dt.date(2024, 3, 1), dose="12", dose_unit="mg/day", by=clinician_a
    )
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2024, 4, 1))
    assert Alert.objects.get(rule="METRELEPTIN_DOSE_ABOVE_MAX").status == "open"
    services.dose_update(change=high, by=clinician_a, reason="typo", expected_version=1, dose="7.5")
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2024, 4, 1))
    alert = Alert.objects.get(rule="METRELEPTIN_DOSE_ABOVE_MAX")
    assert alert.status == "withdrawn" and alert.withdrawn_reason.endswith(": typo")
    services.dose_delete(change=high, by=clinician_a, reason="entered twice", expected_version=2)
    assert list(course.doses.values_list("dose", flat=True)) == [5]
    with pytest.raises(ValidationError, match="only dose"):
        services.dose_delete(change=course.doses.get(), by=clinician_a, reason="x", expected_version=1)


@pytest.mark.django_db
def test_api_patch_and_delete_of_courses_and_doses(patient_a, clinician_a, clinician_b, researcher_a):
    course = make_course(patient=patient_a, start_date=START, by=clinician_a)
    api = api_for(clinician_a)
    url = course_url(patient_a, course)
    body = {"start_date": "2023-12-01", "change_reason": "typo"}
    assert api.patch(url, body, format="json").status_code == 428
    assert api.patch(url, body, format="json", HTTP_IF_MATCH='"7"').status_code == 412
    assert api.patch(url, {"start_date": "2023-12-01"}, format="json", HTTP_IF_MATCH='"1"').status_code == 400
    assert api_for(clinician_b).patch(url, body, format="json", HTTP_IF_MATCH='"1"').status_code == 404
    assert api_for(researcher_a).patch(url, body, format="json", HTTP_IF_MATCH='"1"').status_code == 403
    ok = api.patch(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200 and ok["ETag"] == '"2"' and ok.json()["start_date"] == "2023-12-01"
    dose = course.doses.get()
    durl = course_url(patient_a, course, dose)
    got = api.get(durl)
    assert got.status_code == 200 and got["ETag"] == '"2"'  # the starting dose moved with the start
    assert api.patch(durl, {"dose": "5,5", "change_reason": "typo"}, format="json").status_code == 428
    fixed = api.patch(durl, {"dose": "5,5", "change_reason": "typo"}, format="json", HTTP_IF_MATCH='"2"')
    assert fixed.status_code == 200 and fixed.json()["dose"] == 5.5
    bad = api.patch(durl, {"dose": "1,250", "change_reason": "typo"}, format="json", HTTP_IF_MATCH='"3"')
    assert bad.status_code == 400 and "1250 or 1.25" in bad.json()["errors"]["dose"][0]
    # The dose change's own note is "reason" in the body, beside the reason for the correction.
    noted = api.patch(durl, {"reason": "after review", "change_reason": "note"}, format="json", HTTP_IF_MATCH='"3"')
    assert noted.status_code == 200 and noted.json()["reason"] == "after review" and noted["ETag"] == '"4"'
    assert AuditEvent.objects.filter(object_id=str(dose.public_id), reason="note").exists()
    assert api.delete(url + "?change_reason=error").status_code == 428
    assert api.delete(url + "?change_reason=error", HTTP_IF_MATCH='"1"').status_code == 412
    assert api.delete(url, HTTP_IF_MATCH='"2"').status_code == 400
    assert api.delete(url + "?change_reason=entered+in+error", HTTP_IF_MATCH='"2"').status_code == 204
    assert not TreatmentCourse.objects.filter(pk=course.pk).exists()
    assert AuditEvent.objects.filter(object_id=str(dose.public_id), action="delete").exists()


@pytest.mark.django_db
def test_openapi_documents_if_match_on_corrections(clinician_a):
    schema = api_for(clinician_a).get("/api/schema/?format=json").json()
    op = schema["paths"]["/api/v1/patients/{patient_id}/treatments/{course_id}/doses/{dose_id}/"]
    for method in ("patch", "delete"):
        assert {"412", "428"} <= set(op[method]["responses"])
        assert any(p["name"] == "If-Match" and p["in"] == "header" for p in op[method]["parameters"])


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_dose_changes_one_success_one_clear_error(patient_a, clinician_a):
    course = make_course(patient=patient_a, start_date=START, by=clinician_a)
    outcomes: list[str] = []
    for attempt in range(4):
        day = dt.date(2024, 2, 1 + attempt)
        barrier = threading.Barrier(2)
        results: list[str] = []

        def record(day=day, barrier=barrier, results=results):
            try:
                barrier.wait()
                services.dose_change_record(course=course, effective_date=day, dose="6", dose_unit="mg/day", by=None)
                results.append("ok")
            except ValidationError as exc:
                assert "already recorded" in exc.message_dict["effective_date"][0]
                results.append("400")
            finally:
                connection.close()

        threads = [threading.Thread(target=record) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["400", "ok"], results
        outcomes += results
    assert DoseChange.objects.filter(course=course).count() == 5


@pytest.mark.django_db
def test_a_dose_date_outside_the_course_reads_the_same_on_correction_as_on_entry(patient_a, clinician_a):
    course = make_course(patient=patient_a, start_date=START, by=clinician_a)
    early = START - dt.timedelta(days=3)
    with pytest.raises(ValidationError) as on_entry:
        services.dose_change_record(course=course, effective_date=early, dose="5", dose_unit="mg/day", by=clinician_a)
    with pytest.raises(ValidationError) as on_correction:
        services.dose_update(
            change=course.doses.get(), by=clinician_a, reason="typo", expected_version=1, effective_date=early
        )
    message = on_entry.value.message_dict["effective_date"]
    assert message == on_correction.value.message_dict["effective_date"]
    assert START.isoformat() not in message[0]  # the date as people read it, not ISO
