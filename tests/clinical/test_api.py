"""Clinical API: labs, visits, treatments, doses, alerts, trends. Standard negative set
for each: works / other site -> 404 / researcher -> read only / anonymous -> 401 /
stale If-Match -> 412."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from clinical.models import Alert, LabResult, TreatmentCourse, Visit
from registry.models import AuditEvent
from tests.factories import make_course, make_lab
from tests.registry.test_api import api_for


@pytest.fixture
def api_a(clinician_a):
    return api_for(clinician_a)


@pytest.fixture
def api_res(researcher_a):
    return api_for(researcher_a)


def lab_url(patient, lab=None) -> str:
    base = f"/api/v1/patients/{patient.public_id}/labs/"
    return f"{base}{lab.public_id}/" if lab else base


TG = {"analyte": "triglycerides", "value": 5.2, "unit": "mmol/L", "collected_on": "2024-03-01", "fasting": True}


# --- labs -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lab_create_in_si_and_read_back_in_conventional(api_a, patient_a):
    response = api_a.post(lab_url(patient_a), TG, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["value"], body["unit"]) == (5.2, "mmol/L")
    assert (body["canonical_value"], body["canonical_unit"]) == (5.2, "mmol/L")
    assert "display_value" not in body and response["ETag"] == '"1"'
    lab = LabResult.objects.get(public_id=body["id"])
    assert lab.source == "api"
    shown = api_a.get(f"{lab_url(patient_a, lab)}?units=conventional").json()
    assert shown["display_unit"] == "mg/dL"
    assert Decimal(shown["display_value"]) == Decimal("461")  # 5.2 / 0.01129 = 460.6
    assert api_a.get(f"{lab_url(patient_a, lab)}?units=si").json()["display_unit"] == "mmol/L"
    assert api_a.get(f"{lab_url(patient_a, lab)}?units=imperial").status_code == 400


@pytest.mark.django_db
def test_lab_create_validates_like_the_form(api_a, patient_a):
    bad = {**TG, "value": 99999, "unit": "mg/dL", "collected_on": "2999-01-01"}
    response = api_a.post(lab_url(patient_a), bad, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "implausible" in errors["value"][0] and "mg/dL" in errors["value"][0]
    assert "future" in errors["collected_on"][0]
    unit = api_a.post(lab_url(patient_a), {**TG, "unit": "g/L"}, format="json").json()["errors"]
    assert "accepted units" in unit["unit"][0]
    assert not LabResult.objects.exists()


@pytest.mark.django_db
def test_lab_create_under_other_site_is_404_and_writes_nothing(api_a, api_res, patient_a, patient_b):
    assert api_a.post(lab_url(patient_b), TG, format="json").status_code == 404
    assert api_res.post(lab_url(patient_a), TG, format="json").status_code == 403
    assert APIClient().post(lab_url(patient_a), TG, format="json").status_code == 401
    assert not LabResult.objects.exists()


@pytest.mark.django_db
def test_lab_list_filters_ordering_and_cursor(api_a, api_res, clinician_a, patient_a, patient_b):
    for day, analyte, value, unit in [
        (dt.date(2024, 1, 1), "triglycerides", 3, "mmol/L"),
        (dt.date(2024, 2, 1), "triglycerides", 4, "mmol/L"),
        (dt.date(2024, 3, 1), "hba1c", 7, "%"),
    ]:
        make_lab(patient=patient_a, analyte=analyte, value=value, unit=unit, collected_on=day, by=clinician_a)
    url = lab_url(patient_a)
    newest_first = [r["collected_on"] for r in api_a.get(url).json()["results"]]
    assert newest_first == ["2024-03-01", "2024-02-01", "2024-01-01"]
    tg = api_a.get(f"{url}?analyte=triglycerides&ordering=collected_on").json()["results"]
    assert [r["collected_on"] for r in tg] == ["2024-01-01", "2024-02-01"]
    ranged = api_a.get(f"{url}?from_date=2024-01-15&to_date=2024-02-15").json()["results"]
    assert [r["collected_on"] for r in ranged] == ["2024-02-01"]
    page1 = api_a.get(f"{url}?page_size=2").json()
    page2 = APIClient()
    page2 = api_a.get(page1["next"]).json()
    assert len(page1["results"]) == 2 and len(page2["results"]) == 1
    assert api_a.get(f"{url}?analyte=nonsense").status_code == 400
    assert api_a.get(f"{url}?from_date=notadate").status_code == 400
    assert api_a.get(lab_url(patient_b)).status_code == 404
    assert len(api_res.get(url).json()["results"]) == 3


@pytest.mark.django_db
def test_lab_list_query_count(api_a, clinician_a, patient_a, django_assert_num_queries):
    for i in range(5):
        make_lab(patient=patient_a, analyte="alt", value=20 + i, collected_on=dt.date(2024, 1, 1 + i), by=clinician_a)
    # token with its user and memberships, token last_used update, lab page (the patient
    # scoped on the join, the visit joined for its id)
    with django_assert_num_queries(3):
        response = api_a.get(lab_url(patient_a))
    assert len(response.json()["results"]) == 5
    # within a minute of the last use, no update: token, lab page
    with django_assert_num_queries(2):
        assert len(api_a.get(lab_url(patient_a)).json()["results"]) == 5


@pytest.mark.django_db
def test_lab_list_empty_page_reads_the_patient(api_a, patient_a, patient_b, django_assert_num_queries):
    api_a.get(lab_url(patient_a))  # the token's last use is recorded
    # token, lab page (empty), patient: an empty list of one's own patient...
    with django_assert_num_queries(3):
        response = api_a.get(lab_url(patient_a))
    assert response.status_code == 200 and response.json()["results"] == []
    # ...and a 404 for another site's patient, whose results the page never reads
    with django_assert_num_queries(3):
        assert api_a.get(lab_url(patient_b)).status_code == 404


@pytest.mark.django_db
def test_lab_list_scope_on_the_join(api_a, api_res, clinician_a, clinician_b, site_a, patient_b, registry_admin):
    from tests.factories import make_patient

    unconsented = make_patient(site=site_a, by=clinician_a, research_consent=False)
    make_lab(patient=unconsented, analyte="alt", value=30, by=clinician_a)
    make_lab(patient=patient_b, analyte="alt", value=31, by=clinician_b)
    assert len(api_a.get(lab_url(unconsented)).json()["results"]) == 1
    assert api_res.get(lab_url(unconsented)).status_code == 404  # researchers: consenting patients only
    assert api_a.get(lab_url(patient_b)).status_code == 404
    assert len(api_for(registry_admin).get(lab_url(patient_b)).json()["results"]) == 1
    # another site's patient is a 404 before any parameter of the page is looked at
    assert api_a.get(f"{lab_url(patient_b)}?page_size=0").status_code == 404
    assert api_a.get(f"{lab_url(patient_b)}?cursor=bogus").status_code == 404
    assert api_a.get(f"{lab_url(unconsented)}?page_size=0").status_code == 400
    assert api_a.get(f"{lab_url(unconsented)}?cursor=bogus").status_code == 400


@pytest.mark.django_db
def test_lab_patch_if_match_reason_and_stale(api_a, api_res, clinician_a, patient_a, patient_b, clinician_b):
    lab = make_lab(patient=patient_a, value=5, unit="mmol/L", by=clinician_a)
    url = lab_url(patient_a, lab)
    etag = api_a.get(url)["ETag"]
    assert api_a.patch(url, {"value": 6, "change_reason": "typo"}, format="json").status_code == 428
    no_reason = api_a.patch(url, {"value": 6}, format="json", HTTP_IF_MATCH=etag)
    assert no_reason.status_code == 400 and "change_reason" in no_reason.json()["errors"]
    ro = api_a.patch(url, {"canonical_value": 1, "change_reason": "x"}, format="json", HTTP_IF_MATCH=etag)
    assert ro.status_code == 400 and "canonical_value" in ro.json()["errors"]
    ok = api_a.patch(url, {"value": 6, "change_reason": "typo"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok.json()["value"] == 6.0 and ok["ETag"] == '"2"'
    stale = api_a.patch(url, {"value": 7, "change_reason": "again"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    lab.refresh_from_db()
    assert lab.value == 6 and lab.version == 2
    assert AuditEvent.objects.filter(object_id=str(lab.public_id), action="update", reason="typo").count() == 1
    assert api_res.patch(url, {"value": 8, "change_reason": "x"}, format="json", HTTP_IF_MATCH='"2"').status_code == 403
    other = make_lab(patient=patient_b, analyte="alt", value=20, by=clinician_b)
    assert (
        api_a.patch(
            lab_url(patient_b, other), {"value": 8, "change_reason": "x"}, format="json", HTTP_IF_MATCH='"1"'
        ).status_code
        == 404
    )
    # another patient's lab id under my patient's URL is a 404 too
    assert api_a.get(lab_url(patient_a, other)).status_code == 404
    put = api_a.put(url, {"value": 6.5, "change_reason": "full"}, format="json", HTTP_IF_MATCH='"2"')
    assert put.status_code == 400 and {"analyte", "unit", "collected_on"} <= set(put.json()["errors"])


@pytest.mark.django_db
def test_lab_delete_needs_if_match_and_reason(api_a, clinician_a, patient_a):
    lab = make_lab(patient=patient_a, analyte="alt", value=20, by=clinician_a)
    assert api_a.delete(lab_url(patient_a, lab) + "?change_reason=wrong+patient").status_code == 428
    assert api_a.delete(lab_url(patient_a, lab), HTTP_IF_MATCH='"1"').status_code == 400
    assert (
        api_a.delete(lab_url(patient_a, lab) + "?change_reason=wrong+patient", HTTP_IF_MATCH='"9"').status_code == 412
    )
    assert LabResult.objects.filter(pk=lab.pk).exists()
    assert (
        api_a.delete(lab_url(patient_a, lab) + "?change_reason=wrong+patient", HTTP_IF_MATCH='"1"').status_code == 204
    )
    assert not LabResult.objects.filter(pk=lab.pk).exists()


# --- visits -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_visit_create_with_panel_update_and_negatives(api_a, api_res, patient_a, patient_b):
    url = f"/api/v1/patients/{patient_a.public_id}/visits/"
    body = {
        "visit_date": "2024-05-01",
        "weight_kg": 61.5,
        "height_cm": 165,
        "waist_cm": 80,
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "labs": [{"analyte": "hba1c", "value": 7.1, "unit": "%"}],
    }
    response = api_a.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    visit = Visit.objects.get(public_id=response.json()["id"])
    assert visit.lab_results.get().collected_on == dt.date(2024, 5, 1)
    assert response.json()["bmi"] == 22.6
    bad = api_a.post(
        url, {**body, "systolic_bp": 70, "labs": [{"analyte": "hba1c", "value": 70, "unit": "%"}]}, format="json"
    )
    assert bad.status_code == 400 and {"diastolic_bp", "labs.0.value"} <= set(bad.json()["errors"])
    detail = f"{url}{visit.public_id}/"
    assert api_a.patch(detail, {"weight_kg": 60, "change_reason": "scale"}, format="json").status_code == 428
    ok = api_a.patch(detail, {"weight_kg": 60, "change_reason": "scale"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200 and ok.json()["weight_kg"] == 60.0
    assert (
        api_a.patch(detail, {"weight_kg": 59, "change_reason": "x"}, format="json", HTTP_IF_MATCH='"1"').status_code
        == 412
    )
    assert api_res.get(detail).status_code == 200
    assert api_res.post(url, body, format="json").status_code == 403
    assert api_a.post(f"/api/v1/patients/{patient_b.public_id}/visits/", body, format="json").status_code == 404
    assert Visit.objects.filter(patient=patient_b).count() == 0
    assert APIClient().get(url).status_code == 401


# --- treatments and doses ---------------------------------------------------------------


@pytest.mark.django_db
def test_treatment_start_dose_change_stop(api_a, api_res, patient_a, patient_b):
    url = f"/api/v1/patients/{patient_a.public_id}/treatments/"
    response = api_a.post(
        url, {"drug": "metreleptin", "start_date": "2023-01-10", "dose": 5, "dose_unit": "mg/day"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["dose"] == 5.0 and body["dose_unit"] == "mg/day" and len(body["doses"]) == 1
    course_url = f"{url}{body['id']}/"
    dose = api_a.post(
        f"{course_url}doses/", {"effective_date": "2023-04-01", "dose": 7.5, "dose_unit": "mg/day"}, format="json"
    )
    assert dose.status_code == 201, dose.json()
    wrong_unit = api_a.post(
        f"{course_url}doses/", {"effective_date": "2023-05-01", "dose": 7.5, "dose_unit": "U/day"}, format="json"
    )
    assert wrong_unit.status_code == 400 and "dose_unit" in wrong_unit.json()["errors"]
    assert [d["dose"] for d in api_a.get(f"{course_url}doses/").json()["results"]] == [5.0, 7.5]
    assert api_a.get(course_url).json()["dose"] == 7.5
    stop = {"end_date": "2024-01-10", "stop_reason": "patient_choice", "change_reason": "patient stopped"}
    assert api_a.patch(course_url, stop, format="json").status_code == 428
    assert api_a.patch(course_url, stop, format="json", HTTP_IF_MATCH='"7"').status_code == 412
    ok = api_a.patch(course_url, stop, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200 and ok.json()["end_date"] == "2024-01-10" and ok["ETag"] == '"2"'
    again = api_a.patch(course_url, stop, format="json", HTTP_IF_MATCH='"2"')
    assert again.status_code == 400 and "already ended" in again.json()["errors"]["end_date"][0]
    assert (
        api_res.post(
            f"{course_url}doses/", {"effective_date": "2023-06-01", "dose": 5, "dose_unit": "mg/day"}, format="json"
        ).status_code
        == 403
    )
    other = f"/api/v1/patients/{patient_b.public_id}/treatments/"
    assert (
        api_a.post(
            other, {"drug": "insulin", "start_date": "2023-01-10", "dose": 50, "dose_unit": "U/day"}, format="json"
        ).status_code
        == 404
    )
    assert api_a.get(f"{other}{body['id']}/").status_code == 404
    assert not TreatmentCourse.objects.filter(patient=patient_b).exists()


# --- alerts and trends ------------------------------------------------------------------


@pytest.mark.django_db
def test_alerts_list_and_acknowledge(
    api_a, api_res, clinician_a, patient_a, patient_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_lab(patient=patient_a, value=1200, by=clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/alerts/"
    alerts = api_a.get(url).json()["results"]
    severe = next(a for a in alerts if a["rule"] == "TG_SEVERE")
    assert severe["severity"] == "critical" and severe["status"] == "open" and severe["message"]
    assert {"id", "rule", "severity", "status", "message", "created_at"} <= set(severe)
    assert severe["observed_on"] == "2024-01-01"  # the date the evidence was collected
    ack_url = f"{url}{severe['id']}/acknowledge/"
    assert api_res.post(ack_url, {"note": "seen"}, format="json").status_code == 403
    ack = api_a.post(ack_url, {"note": "called patient"}, format="json")
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert [a["rule"] for a in api_a.get(f"{url}?status=acknowledged").json()["results"]] == ["TG_SEVERE"]
    assert api_a.get(f"/api/v1/patients/{patient_b.public_id}/alerts/").status_code == 404
    assert Alert.objects.get(public_id=severe["id"]).acknowledge_note == "called patient"


@pytest.mark.django_db
def test_alert_reopen_needs_a_reason_is_audited_and_scoped(
    api_a, api_res, clinician_a, patient_a, patient_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_lab(patient=patient_a, value=1200, by=clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/alerts/"
    severe = next(a for a in api_a.get(url).json()["results"] if a["rule"] == "TG_SEVERE")
    reopen_url = f"{url}{severe['id']}/reopen/"
    not_acknowledged = api_a.post(reopen_url, {"reason": "still high"}, format="json")
    assert not_acknowledged.status_code == 400 and "status" in not_acknowledged.json()["errors"]
    assert api_a.post(f"{url}{severe['id']}/acknowledge/", {"note": "called"}, format="json").status_code == 200
    missing = api_a.post(reopen_url, {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]
    blank = api_a.post(reopen_url, {"reason": "  "}, format="json")
    assert blank.status_code == 400 and "reason" in blank.json()["errors"]
    assert api_a.post(reopen_url, {"reason": "x", "extra": 1}, format="json").status_code == 400  # strict body
    assert api_res.post(reopen_url, {"reason": "x"}, format="json").status_code == 403
    other = f"/api/v1/patients/{patient_b.public_id}/alerts/{severe['id']}/reopen/"
    assert api_a.post(other, {"reason": "x"}, format="json").status_code == 404
    assert Alert.objects.get(public_id=severe["id"]).status == "acknowledged"
    reopened = api_a.post(reopen_url, {"reason": "TG still 1200 on repeat"}, format="json")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open" and reopened.json()["acknowledged_at"] is None
    alert = Alert.objects.get(public_id=severe["id"])
    assert alert.status == "open" and alert.acknowledge_note == ""
    event = AuditEvent.objects.filter(object_id=str(alert.public_id)).order_by("-id").first()
    assert event.user == clinician_a and event.reason == "reopened: TG still 1200 on repeat"


@pytest.mark.django_db
def test_trends_return_rule_fields_and_response_class(
    api_a, clinician_a, patient_a, patient_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for day, value in [(dt.date(2023, 1, 1), 10), (dt.date(2023, 4, 1), 6), (dt.date(2024, 1, 5), 4)]:
            make_lab(patient=patient_a, value=value, unit="mmol/L", collected_on=day, by=clinician_a)
        make_course(patient=patient_a, start_date=dt.date(2023, 1, 2), dose=5, by=clinician_a)
    body = api_a.get(f"/api/v1/patients/{patient_a.public_id}/trends/").json()
    tg = next(t for t in body["analytes"] if t["analyte"] == "triglycerides")
    for field in ("latest_value", "baseline_value", "nadir_value", "slope_per_year", "months", "unit"):
        assert field in tg
    assert tg["latest_value"] == 4 and tg["baseline_value"] == 10
    assert body["courses"] and "response_class" in body["courses"][0]
    assert api_a.get(f"/api/v1/patients/{patient_b.public_id}/trends/").status_code == 404


@pytest.mark.django_db
def test_reference_limit_too_large_to_store_is_a_400_on_create_and_patch(api_a, patient_a, clinician_a):
    """A huge reference limit (found by schemathesis: 4e283) is a field error, never a 500."""
    huge = 4.007025313149119e283
    body = {"analyte": "glucose", "value": 5, "unit": "mmol/L", "collected_on": "2024-01-02", "reference_low": huge}
    response = api_a.post(lab_url(patient_a), body, format="json")
    assert response.status_code == 400
    assert "reference_low" in response.json()["errors"]
    lab = make_lab(patient=patient_a, analyte="glucose", value=5, unit="mmol/L", by=clinician_a)
    response = api_a.patch(
        lab_url(patient_a, lab), {"reference_low": huge, "change_reason": "typo"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 400
    assert "reference_low" in response.json()["errors"]
    lab.refresh_from_db()
    assert lab.reference_low is None and lab.version == 1
