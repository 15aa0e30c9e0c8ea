"""RULES.md 5 edges through the database: site time zone, AGL from any diagnosis with
re-evaluation, fasting LOINC, the label warning of the API and form, the read-only
evidence view and a stopped course never shown active."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from clinical import imports, services
from clinical.evaluation import patient_evaluate
from clinical.models import Alert
from registry import services as registry_services
from registry.models import Patient, Site, validate_time_zone
from tests.factories import make_course, make_visit
from tests.registry.test_api import api_for

pytestmark = pytest.mark.django_db


def test_site_time_zone_sets_today_for_future_date_checks(patient_a, clinician_a, site_a):
    # 23:30 UTC on 1 March is already 2 March in Tokyo.
    with time_machine.travel(dt.datetime(2025, 3, 1, 23, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        with pytest.raises(ValidationError, match="in the future"):
            services.lab_result_record(
                patient=patient_a, analyte="alt", value="20", unit="U/L", collected_on=dt.date(2025, 3, 2), by=None
            )
        Site.objects.filter(pk=site_a.pk).update(time_zone="Asia/Tokyo")
        patient = Patient.objects.get(pk=patient_a.pk)
        assert patient.today() == dt.date(2025, 3, 2)
        services.lab_result_record(
            patient=patient, analyte="alt", value="20", unit="U/L", collected_on=dt.date(2025, 3, 2), by=clinician_a
        )


def test_time_zone_must_be_an_iana_name():
    validate_time_zone("Europe/Berlin")
    with pytest.raises(ValidationError):
        validate_time_zone("Mars/Olympus")


def test_agl_from_any_diagnosis_and_adding_one_marks_for_evaluation(patient_a, clinician_a):
    make_course(patient=patient_a, start_date=dt.date(2024, 1, 1), by=clinician_a, dose="2.5")
    registry_services.diagnosis_add(patient=patient_a, subtype="AGL", by=clinician_a)
    assert Patient.objects.get(pk=patient_a.pk).needs_evaluation
    registry_services.diagnosis_add(patient=patient_a, subtype="CGL1", by=clinician_a)  # a later primary
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2024, 6, 1))
    assert Alert.objects.get(patient=patient_a, rule="LYMPHOMA_VIGILANCE").status == "open"


def test_fasting_loinc_sets_fasting_in_imports(clinician_a, patient_a):
    text = (
        "registry_code,analyte,value,unit,collected_on,fasting\r\n"
        f"{patient_a.registry_code},1558-6,95,mg/dL,2024-03-01,\r\n"
        f"{patient_a.registry_code},2345-7,95,mg/dL,2024-03-02,\r\n"
    )
    plan = imports.lab_import_preview(user=clinician_a, content=text.encode(), today=dt.date(2025, 1, 1))
    assert plan.ok and [lab.fasting for lab in plan.labs] == [True, None]


def test_api_returns_the_servers_label_warning(clinician_a, patient_a):
    make_visit(patient=patient_a, by=clinician_a, visit_date=dt.date(2024, 1, 1), weight_kg="33.3")
    api = api_for(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/treatments/"
    body = {"drug": "metreleptin", "start_date": "2024-01-02", "dose": "4.33", "dose_unit": "mg/day"}
    r = api.post(url, body, format="json")
    # 0.13 mg/kg x 33.3 kg = 4.329 mg: 4.33 is above it (a float rounded to 0.01 said no)
    assert r.status_code == 201 and "above the label maximum of 4.33 mg/day" in r.json()["warning"]
    doses = f"{url}{r.json()['id']}/doses/"
    ok = api.post(doses, {"effective_date": "2024-02-01", "dose": "4.3", "dose_unit": "mg/day"}, format="json")
    assert ok.status_code == 201 and ok.json()["warning"] == ""


def test_evidence_link_opens_a_read_only_view(client, clinician_a, patient_a):
    lab = services.lab_result_record(
        patient=patient_a,
        analyte="triglycerides",
        value="1200",
        unit="mg/dL",
        collected_on=dt.date(2025, 1, 10),
        by=None,
    )
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2025, 2, 1))
    client.force_login(clinician_a)
    # Raised today on 2025 evidence: a historic alert, listed when asked for.
    page = client.get("/alerts/?historic=1").content.decode()
    assert f'/labs/{lab.public_id}/"' in page and f"/labs/{lab.public_id}/edit/" not in page
    detail = client.get(f"/labs/{lab.public_id}/")
    assert detail.status_code == 200 and "<form" not in detail.content.decode().split("<main")[-1]
    assert "Correct this result" in detail.content.decode()


def test_a_course_stopped_today_is_not_shown_active(client, clinician_a, patient_a):
    course = make_course(patient=patient_a, start_date=dt.date(2024, 1, 1), by=clinician_a)
    services.course_stop(course=course, end_date=patient_a.today(), stop_reason="patient_choice", by=clinician_a)
    client.force_login(clinician_a)
    page = client.get(f"/patients/{patient_a.public_id}/").content.decode()
    assert "Stopped: Patient choice" in page and 'class="badge ok">active<' not in page


def test_chart_and_api_show_a_provisional_month_12_class(client, clinician_a, patient_a):
    start = patient_a.today() - dt.timedelta(days=400)  # the month-12 window is still open
    make_visit(patient=patient_a, by=clinician_a, visit_date=start, weight_kg="60")
    services.lab_result_record(
        patient=patient_a, analyte="triglycerides", value="500", unit="mg/dL", collected_on=start, by=None
    )
    services.lab_result_record(
        patient=patient_a,
        analyte="triglycerides",
        value="480",
        unit="mg/dL",
        collected_on=start + dt.timedelta(days=360),
        by=None,
    )
    make_course(patient=patient_a, start_date=start, by=clinician_a, dose="5")
    patient_evaluate(patient_id=patient_a.pk)
    assert not Alert.objects.filter(patient=patient_a, rule="METRELEPTIN_NON_RESPONSE").exists()
    client.force_login(clinician_a)
    page = client.get(f"/patients/{patient_a.public_id}/").content.decode()
    assert "month-12 window open until" in page and "so far: non-responder" in page
    trends = api_for(clinician_a).get(f"/api/v1/patients/{patient_a.public_id}/trends/").json()
    assert trends["courses"][0]["provisional"] is True


@pytest.mark.parametrize(("time_zone", "overdue"), [("UTC", False), ("Pacific/Kiritimati", True)])
def test_overdue_monitoring_uses_the_sites_today(patient_a, clinician_a, site_a, time_zone, overdue):
    Site.objects.filter(pk=site_a.pk).update(time_zone=time_zone)
    with time_machine.travel(dt.datetime(2025, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC")), tick=False):
        make_course(patient=patient_a, start_date=dt.date(2024, 1, 1), by=clinician_a, dose="2.5")
        for analyte, value, unit in (("hba1c", "7", "%"), ("triglycerides", "150", "mg/dL")):
            services.lab_result_record(
                patient=patient_a, analyte=analyte, value=value, unit=unit, collected_on=dt.date(2024, 8, 30), by=None
            )
        patient_evaluate(patient_id=patient_a.pk)  # no explicit today: the site's date
    # 183 days before 2025-03-01 is 2024-08-30 (still inside); in Kiritimati it is already 2 March
    assert Alert.objects.filter(patient=patient_a, rule="MONITORING_OVERDUE", status="open").exists() is overdue
