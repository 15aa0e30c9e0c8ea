"""The alert lifecycle of RULES.md section 5 against the database: corrections withdraw
(with reason, who, when), reopen and supersede; no delete path removes an alert; the API
shows withdrawn alerts only on request."""

from __future__ import annotations

import datetime as dt

import pytest

from clinical import services
from clinical.evaluation import patient_evaluate
from clinical.models import Alert, AlertStatus
from clinical.services import alert_acknowledge
from tests.factories import make_course, make_visit
from tests.registry.test_api import api_for

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 1)


def lab(patient, by, analyte, value, unit, on, **kw):
    return services.lab_result_record(
        patient=patient, analyte=analyte, value=value, unit=unit, collected_on=on, by=by, **kw
    )


def evaluate(patient):
    patient_evaluate(patient_id=patient.pk, today=TODAY)


def alerts_of(patient) -> dict[str, str]:
    return {a.rule: a.status for a in Alert.objects.filter(patient=patient)}


def test_tg_typo_fixed_withdraws_the_critical_alert_with_reason_who_and_when(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    evaluate(patient_a)
    services.lab_result_update(
        result=result, by=clinician_a, reason="transcription error", expected_version=1, value="120"
    )
    evaluate(patient_a)
    alert = Alert.objects.get(patient=patient_a)
    assert alert.status == AlertStatus.WITHDRAWN and alert.rule == "TG_SEVERE"
    assert alert.withdrawn_by == clinician_a and alert.withdrawn_at is not None
    assert alert.withdrawn_reason.startswith("evidence corrected on ")
    assert alert.withdrawn_reason.endswith(f"by {clinician_a.username}: transcription error")
    assert alert.lab_result_id == result.pk  # the evidence link stays


def test_supersession_holds_at_every_evaluation(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    evaluate(patient_a)
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="700")
    evaluate(patient_a)
    assert alerts_of(patient_a) == {"TG_SEVERE": "withdrawn", "TG_VERY_HIGH": "open"}
    glucose = lab(patient_a, clinician_a, "glucose", "50", "mg/dL", dt.date(2025, 1, 11))
    evaluate(patient_a)
    services.lab_result_update(result=glucose, by=clinician_a, reason="typo", expected_version=1, value="65")
    evaluate(patient_a)
    assert alerts_of(patient_a)["HYPOGLYCEMIA"] == "withdrawn" and alerts_of(patient_a)["LOW_GLUCOSE"] == "open"


def test_acknowledged_alert_whose_value_changed_opens_again(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1100", "mg/dL", dt.date(2025, 1, 10))
    evaluate(patient_a)
    alert_acknowledge(alert=Alert.objects.get(patient=patient_a), by=clinician_a, note="seen")
    evaluate(patient_a)
    assert Alert.objects.get(patient=patient_a).status == AlertStatus.ACKNOWLEDGED  # same data: stays
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="3000")
    evaluate(patient_a)
    alert = Alert.objects.get(patient=patient_a)
    assert alert.status == AlertStatus.OPEN and "3000 mg/dL" in alert.message


def test_withdrawn_alert_found_again_reopens_on_the_same_row(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    evaluate(patient_a)
    first = Alert.objects.get(patient=patient_a)
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="120")
    evaluate(patient_a)
    services.lab_result_update(result=result, by=clinician_a, reason="it was right", expected_version=2, value="1200")
    evaluate(patient_a)
    again = Alert.objects.get(patient=patient_a)
    assert again.pk == first.pk and again.status == AlertStatus.OPEN and again.withdrawn_reason == ""


def test_deleting_evidence_never_deletes_an_alert(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    make_visit(patient=patient_a, by=clinician_a, visit_date=dt.date(2024, 1, 1), weight_kg="60")
    course = make_course(patient=patient_a, start_date=dt.date(2024, 1, 1), by=clinician_a, dose="12")
    evaluate(patient_a)
    alert_acknowledge(alert=Alert.objects.get(rule="TG_SEVERE"), by=clinician_a, note="called the patient")
    assert set(alerts_of(patient_a)) >= {"TG_SEVERE", "METRELEPTIN_DOSE_ABOVE_MAX"}
    services.lab_result_delete(result=result, by=clinician_a, reason="wrong patient", expected_version=1)
    services.course_delete(course=course, by=clinician_a, reason="entered in error", expected_version=1)
    evaluate(patient_a)
    tg = Alert.objects.get(rule="TG_SEVERE")
    assert tg.status == AlertStatus.WITHDRAWN and tg.lab_result_id is None
    assert "evidence deleted on" in tg.withdrawn_reason and tg.withdrawn_reason.endswith(": wrong patient")
    assert tg.acknowledge_note == "called the patient"  # the history stays
    dose = Alert.objects.get(rule="METRELEPTIN_DOSE_ABOVE_MAX")
    assert dose.status == AlertStatus.WITHDRAWN and dose.withdrawn_reason.endswith(": entered in error")


def test_api_and_selectors_show_withdrawn_only_on_request(patient_a, clinician_a):
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", dt.date(2025, 1, 10))
    lab(patient_a, clinician_a, "triglycerides", "600", "mg/dL", dt.date(2025, 1, 12))
    evaluate(patient_a)
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="120")
    evaluate(patient_a)
    api = api_for(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/alerts/"
    assert [a["rule"] for a in api.get(url).json()["results"]] == ["TG_VERY_HIGH"]
    withdrawn = api.get(url + "?status=withdrawn").json()["results"]
    assert [a["rule"] for a in withdrawn] == ["TG_SEVERE"] and withdrawn[0]["withdrawn_reason"].endswith(": typo")
    assert {a["status"] for a in api.get(url + "?status=all").json()["results"]} == {"open", "withdrawn"}
    ack = api.post(f"{url}{withdrawn[0]['id']}/acknowledge/", {}, format="json")
    assert ack.status_code == 400


def test_worklist_lists_withdrawn_alerts_only_when_asked(client, patient_a, clinician_a):
    # Recent evidence, so the alerts are not historic and the default worklist would list them.
    today = dt.date.today()
    result = lab(patient_a, clinician_a, "triglycerides", "1200", "mg/dL", today - dt.timedelta(days=3))
    evaluate(patient_a)
    services.lab_result_update(result=result, by=clinician_a, reason="typo", expected_version=1, value="120")
    evaluate(patient_a)
    assert Alert.objects.get(rule="TG_SEVERE").status == AlertStatus.WITHDRAWN
    client.force_login(clinician_a)
    default = client.get("/alerts/?rule=TG_SEVERE").content.decode()
    assert "Withdrawn:" not in default and "No open alerts" in default
    page = client.get("/alerts/?rule=TG_SEVERE&status=withdrawn").content.decode()
    assert "Withdrawn alerts" in page and "Withdrawn: evidence corrected on" in page and page.count("typo") >= 1
    assert 'value="withdrawn" selected' in page
    assert '<th scope="col">Status</th>' in page and "flag-row-critical" not in page  # no action, not red
    assert '<th scope="col">Acknowledge</th>' in default
