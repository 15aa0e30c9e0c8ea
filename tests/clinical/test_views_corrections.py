"""The correction and deletion screens of courses, doses and lab results, through the
shared versioned write: success goes back to the chart, a missing reason is a field
error, a stale version shows the conflict panel with the record as saved now, another
site's record is a 404."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import services
from clinical.models import DoseChange, LabResult, TreatmentCourse
from registry.models import AuditEvent
from tests.factories import make_course, make_lab

pytestmark = pytest.mark.django_db
START = dt.date(2024, 1, 10)


@pytest.fixture
def course(patient_a, clinician_a):
    return make_course(patient=patient_a, start_date=START, dose="5", by=clinician_a)


def course_form(course, **changes) -> dict:
    return {
        "version": course.version,
        "start_date": course.start_date.isoformat(),
        "end_date": "",
        "stop_reason": "",
        "notes": "",
        **changes,
    }


def test_course_edit_saves_with_a_reason_and_goes_back_to_the_chart(client, clinician_a, course):
    client.force_login(clinician_a)
    url = reverse("course-edit", args=[course.public_id])
    assert client.get(url).status_code == 200
    no_reason = client.post(url, course_form(course, notes="weekly check"))
    assert no_reason.status_code == 200 and no_reason.context["form"].errors["change_reason"]
    saved = client.post(url, course_form(course, notes="weekly check", change_reason="typo in notes"))
    assert saved.status_code == 302 and saved.url == reverse("patient-chart", args=[course.patient.public_id])
    course.refresh_from_db()
    assert course.notes == "weekly check" and course.version == 2
    assert AuditEvent.objects.filter(reason="typo in notes", object_id=str(course.public_id)).exists()


def test_stale_course_edit_shows_the_conflict_and_the_saved_record(client, clinician_a, lead_a, course):
    services.course_update(course=course, by=lead_a, reason="pharmacy record", expected_version=1, notes="from lead")
    client.force_login(clinician_a)
    resp = client.post(
        reverse("course-edit", args=[course.public_id]),
        course_form(course, version=1, notes="mine", change_reason="mine"),
    )
    assert resp.status_code == 200
    row = next(r for r in resp.context["conflict"]["rows"] if r["label"] == "Notes")
    assert row == {"label": "Notes", "saved": "from lead", "yours": "mine", "differs": True}
    assert "pharmacy record" in resp.content.decode()
    # The form now carries the saved version, so a second submit is a deliberate overwrite.
    assert resp.context["form"].initial["version"] == 2 and resp.context["course"].notes == "from lead"
    course.refresh_from_db()
    assert course.notes == "from lead"


def test_course_delete_needs_a_reason_and_a_current_version(client, clinician_a, lead_a, course):
    client.force_login(clinician_a)
    url = reverse("course-delete", args=[course.public_id])
    page = client.get(url)
    assert page.status_code == 200 and "Delete Metreleptin course" in page.content.decode()
    assert client.post(url, {"version": 1, "change_reason": ""}).context["form"].errors["change_reason"]
    services.course_update(course=course, by=lead_a, reason="lead", expected_version=1, notes="x")
    stale = client.post(url, {"version": 1, "change_reason": "entered twice"})
    assert stale.status_code == 200 and stale.context["conflict"]
    assert stale.context["form"].initial["version"] == 2
    assert TreatmentCourse.objects.filter(pk=course.pk).exists()
    done = client.post(url, {"version": 2, "change_reason": "entered twice"})
    assert done.status_code == 302
    assert not TreatmentCourse.objects.filter(pk=course.pk).exists()


def test_dose_edit_conflict_and_delete(client, clinician_a, lead_a, course):
    second = services.dose_change_record(
        course=course, effective_date=START + dt.timedelta(days=30), dose="7.5", dose_unit="mg/day", by=clinician_a
    )
    client.force_login(clinician_a)
    edit = reverse("dose-edit", args=[second.public_id])
    form = {"version": 1, "effective_date": second.effective_date.isoformat(), "dose_unit": "mg/day", "reason": ""}
    services.dose_update(change=second, by=lead_a, reason="label", expected_version=1, dose="7")
    stale = client.post(edit, {**form, "dose": "8", "change_reason": "mine"})
    assert stale.status_code == 200
    row = next(r for r in stale.context["conflict"]["rows"] if r["label"] == "Daily dose")
    assert row["saved"] in ("7", "7.000") and row["yours"] == "8" and row["differs"]
    ok = client.post(edit, {**form, "version": 2, "dose": "8", "reason": "after review", "change_reason": "dose was 8"})
    assert ok.status_code == 302
    second.refresh_from_db()
    assert second.dose == 8 and second.version == 3 and second.reason == "after review"
    assert AuditEvent.objects.filter(reason="dose was 8", object_id=str(second.public_id)).exists()
    delete = reverse("dose-delete", args=[second.public_id])
    assert client.post(delete, {"version": 3, "change_reason": "duplicate"}).status_code == 302
    assert not DoseChange.objects.filter(pk=second.pk).exists()


def test_lab_delete_conflict_then_delete(client, clinician_a, lead_a, patient_a):
    lab = make_lab(patient=patient_a, value=300, unit="mg/dL", by=clinician_a)
    services.lab_result_update(result=lab, by=lead_a, reason="lab called back", expected_version=1, value="320")
    client.force_login(clinician_a)
    url = reverse("lab-delete", args=[lab.public_id])
    stale = client.post(url, {"version": 1, "change_reason": "wrong patient"})
    assert stale.status_code == 200 and stale.context["conflict"] and stale.context["lab"].version == 2
    assert "lab called back" in stale.content.decode()
    assert client.post(url, {"version": 2, "change_reason": "wrong patient"}).status_code == 302
    assert not LabResult.objects.filter(pk=lab.pk).exists()


def test_correction_screens_of_another_site_are_404(client, clinician_b, course):
    client.force_login(clinician_b)
    dose = course.doses.get()
    for name, obj in (("course-edit", course), ("course-delete", course), ("dose-edit", dose), ("dose-delete", dose)):
        assert client.get(reverse(name, args=[obj.public_id])).status_code == 404
        assert client.post(reverse(name, args=[obj.public_id]), {"version": 1}).status_code == 404
