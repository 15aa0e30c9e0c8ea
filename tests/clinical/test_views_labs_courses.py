"""Labs outside a visit (add / edit / delete with reason and version) and treatment
courses (metreleptin suggestion, warning above the label maximum, overlap, dose change,
stop)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import services
from clinical.models import DoseChange, LabResult, TreatmentCourse
from registry.models import AuditEvent
from tests.factories import make_course, make_lab, make_visit

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


@pytest.fixture
def lab_a(patient_a, clinician_a):
    return make_lab(patient=patient_a, value="300", collected_on=DAY, by=clinician_a)


def lab_post(**extra):
    data = {"analyte": "glucose", "value": "5.2", "unit": "mmol/L", "collected_on": DAY.isoformat(), "fasting": "yes"}
    data.update(extra)
    return data


def test_add_lab_result(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    url = reverse("lab-new", args=[patient_a.public_id])
    assert client.get(url).status_code == 200
    assert client.post(url, lab_post()).status_code == 302
    r = LabResult.objects.get(patient=patient_a)
    assert (r.analyte, r.unit, r.fasting) == ("glucose", "mmol/L", True)


@pytest.mark.parametrize(
    ("extra", "field", "needle"),
    [
        ({"value": "900"}, "value", "implausible"),
        ({"unit": "mg/dL", "analyte": "leptin"}, "unit", "accepted units"),
        ({"collected_on": "2999-01-01"}, "collected_on", "future"),
        ({"reference_low": "9", "reference_high": "3"}, "reference_high", "below its lower limit"),
        ({"value": "abc"}, "value", "not a number"),
    ],
)
def test_bad_lab_writes_nothing(client, clinician_a, patient_a, extra, field, needle):
    client.force_login(clinician_a)
    resp = client.post(reverse("lab-new", args=[patient_a.public_id]), lab_post(**extra))
    assert resp.status_code == 200 and LabResult.objects.count() == 0
    assert needle in " ".join(resp.context["form"].errors[field])
    assert f'aria-describedby="id_{field}_errors' in resp.content.decode()


def test_edit_needs_reason_then_saves(client, clinician_a, lab_a):
    client.force_login(clinician_a)
    url = reverse("lab-edit", args=[lab_a.public_id])
    assert client.get(url).status_code == 200
    data = {"analyte": "triglycerides", "value": "310", "unit": "mg/dL", "collected_on": DAY.isoformat(), "version": 1}
    resp = client.post(url, data)
    assert resp.status_code == 200 and resp.context["form"].errors["change_reason"]
    lab_a.refresh_from_db()
    assert lab_a.value == 300
    assert client.post(url, {**data, "change_reason": "transcription error"}).status_code == 302
    lab_a.refresh_from_db()
    assert lab_a.value == 310 and lab_a.version == 2
    assert AuditEvent.objects.filter(action="update", reason="transcription error").exists()


def test_stale_lab_edit_is_a_conflict(client, clinician_a, lead_a, lab_a):
    services.lab_result_update(result=lab_a, by=lead_a, reason="lab called back", expected_version=1, value="320")
    client.force_login(clinician_a)
    data = {
        "analyte": "triglycerides",
        "value": "310",
        "unit": "mg/dL",
        "collected_on": DAY.isoformat(),
        "version": 1,
        "change_reason": "mine",
    }
    resp = client.post(reverse("lab-edit", args=[lab_a.public_id]), data)
    assert resp.status_code == 200
    lab_a.refresh_from_db()
    assert lab_a.value == 320 and lab_a.version == 2
    row = next(r for r in resp.context["conflict"]["rows"] if r["label"] == "Value")
    assert row["saved"] == "320" and row["yours"] == "310" and row["differs"]
    assert "lab called back" in resp.content.decode()


def test_delete_needs_reason_and_version(client, clinician_a, lab_a):
    client.force_login(clinician_a)
    url = reverse("lab-delete", args=[lab_a.public_id])
    assert client.get(url).status_code == 200
    resp = client.post(url, {"version": 1, "change_reason": ""})
    assert resp.status_code == 200 and resp.context["form"].errors["change_reason"]
    assert LabResult.objects.filter(pk=lab_a.pk).exists()
    resp = client.post(url, {"version": 0, "change_reason": "wrong patient"})
    assert resp.status_code == 200 and resp.context["conflict"] and LabResult.objects.filter(pk=lab_a.pk).exists()
    assert client.post(url, {"version": 1, "change_reason": "wrong patient"}).status_code == 302
    assert not LabResult.objects.filter(pk=lab_a.pk).exists()


def test_lab_pages_of_other_site_or_researcher_are_404(client, clinician_b, researcher_a, lab_a, patient_a):
    for user in (clinician_b, researcher_a):
        client.force_login(user)
        assert client.get(reverse("lab-new", args=[patient_a.public_id])).status_code == 404
        assert client.post(reverse("lab-edit", args=[lab_a.public_id]), {}).status_code == 404
        assert (
            client.post(reverse("lab-delete", args=[lab_a.public_id]), {"version": 1, "change_reason": "x"}).status_code
            == 404
        )
    assert LabResult.objects.filter(pk=lab_a.pk).exists()


# --- treatment courses ------------------------------------------------------------------


@pytest.fixture
def weighed(patient_a, clinician_a):
    make_visit(patient=patient_a, by=clinician_a, visit_date=DAY, weight_kg="60")
    return patient_a


def course_url(p, drug="metreleptin"):
    return reverse("course-new", args=[p.public_id]) + f"?drug={drug}"


def test_metreleptin_suggestion_from_label_table(client, clinician_a, weighed):
    client.force_login(clinician_a)
    resp = client.get(course_url(weighed))
    s = resp.context["suggestion"]
    # female > 40 kg: 5 mg/day = 1 mL at 5 mg/mL = 0.083 mg/kg/day at 60 kg; max 10 mg
    assert (str(s.mg), str(s.ml), str(s.mg_per_kg), str(s.max_mg)) == ("5.00", "1.000", "0.083", "10.00")
    assert resp.context["form"].initial["dose"] == "5"
    body = resp.content.decode()
    assert "5 mg" in body and "1 mL" in body and "0.083 mg/kg/day" in body


def test_start_above_label_max_warns_but_saves(client, clinician_a, weighed):
    client.force_login(clinician_a)
    data = {"drug": "metreleptin", "start_date": DAY.isoformat(), "dose": "12", "dose_unit": "mg/day"}
    resp = client.post(course_url(weighed), data, follow=True)
    assert resp.status_code == 200 and TreatmentCourse.objects.filter(patient=weighed).count() == 1
    assert "above the label maximum" in resp.content.decode()


def test_overlapping_course_is_refused_inline(client, clinician_a, weighed):
    make_course(patient=weighed, start_date=DAY, by=clinician_a)
    client.force_login(clinician_a)
    data = {
        "drug": "metreleptin",
        "start_date": (DAY + dt.timedelta(days=10)).isoformat(),
        "dose": "5",
        "dose_unit": "mg/day",
    }
    resp = client.post(course_url(weighed), data)
    assert resp.status_code == 200 and "Overlaps" in " ".join(resp.context["form"].errors["start_date"])
    assert TreatmentCourse.objects.count() == 1 and DoseChange.objects.count() == 1


def test_other_drug_with_its_units(client, clinician_a, weighed):
    client.force_login(clinician_a)
    bad = {"drug": "insulin", "start_date": DAY.isoformat(), "dose": "40", "dose_unit": "mg/day"}
    resp = client.post(course_url(weighed, "insulin"), bad)
    assert resp.status_code == 200 and resp.context["form"].errors["dose_unit"] and TreatmentCourse.objects.count() == 0
    assert client.post(course_url(weighed, "insulin"), {**bad, "dose_unit": "U/day"}).status_code == 302
    chart = client.get(reverse("patient-chart", args=[weighed.public_id]))
    dose = chart.context["chart"].courses[0].doses[0]
    assert (str(dose.per_kg), dose.per_kg_unit) == ("0.667", "U/kg/day")


def test_dose_change_and_stop_with_taper(client, clinician_a, weighed):
    course = make_course(patient=weighed, start_date=DAY, by=clinician_a)
    client.force_login(clinician_a)
    dose_url = reverse("dose-new", args=[course.public_id])
    later = (DAY + dt.timedelta(days=30)).isoformat()
    resp = client.post(dose_url, {"effective_date": "2000-01-01", "dose": "7.5", "dose_unit": "mg/day"})
    assert resp.status_code == 200 and resp.context["form"].errors["effective_date"] and course.doses.count() == 1
    assert (
        client.post(
            dose_url, {"effective_date": later, "dose": "7.5", "dose_unit": "mg/day", "reason": "TG high"}
        ).status_code
        == 302
    )
    assert [str(d.dose.normalize()) for d in course.doses.order_by("effective_date")] == ["5", "7.5"]
    stop_url = reverse("course-stop", args=[course.public_id])
    resp = client.post(stop_url, {"end_date": later, "stop_reason": "", "version": 1})
    assert resp.status_code == 200 and resp.context["form"].errors["stop_reason"]
    course.refresh_from_db()
    assert course.end_date is None
    end = (DAY + dt.timedelta(days=60)).isoformat()
    ok = client.post(stop_url, {"end_date": end, "stop_reason": "taper_completed", "tapered": "on", "version": 1})
    assert ok.status_code == 302
    course.refresh_from_db()
    assert course.end_date.isoformat() == end and course.tapered and course.stop_reason == "taper_completed"


def test_course_pages_of_other_site_or_researcher_are_404(client, clinician_b, researcher_a, clinician_a, weighed):
    course = make_course(patient=weighed, start_date=DAY, by=clinician_a)
    for user in (clinician_b, researcher_a):
        client.force_login(user)
        assert client.get(course_url(weighed)).status_code == 404
        assert client.get(reverse("dose-new", args=[course.public_id])).status_code == 404
        stop = {"end_date": DAY.isoformat(), "stop_reason": "other", "version": 1}
        assert client.post(reverse("course-stop", args=[course.public_id]), stop).status_code == 404
    course.refresh_from_db()
    assert course.end_date is None
