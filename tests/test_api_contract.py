"""The published OpenAPI schema says what the server does (and the server does it):
If-Match, ETag, 412/428 bodies, required fields, strict bodies, string constraints,
page_size bounds, the cursor, the lab-import body, a public schema; and the
registry-wide alert list."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from rest_framework.test import APIClient

from clinical import services
from clinical.models import Alert, AlertStatus
from tests.clinical.test_alert_views import raise_alert
from tests.factories import make_patient
from tests.registry.test_api import api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec():
    return APIClient().get("/api/schema/?format=json").json()  # no token: the schema is public


def _ops(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def _params(op, where):
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == where}


def _component(spec, ref_holder):
    ref = ref_holder["$ref"] if "$ref" in ref_holder else ref_holder["allOf"][0]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_if_match_declared_where_the_server_reads_it(spec):
    writes = [(p, m, op) for p, m, op in _ops(spec) if m in ("put", "patch", "delete")]
    assert len(writes) >= 8
    for path, method, op in writes:
        header = _params(op, "header").get("If-Match")
        assert header is not None, (method, path)
        # every write needs it, DELETE included (RULES.md 5: corrections and deletions
        # like PATCH): 428 without it, 412 when stale
        assert header["required"] is True, (method, path)
        assert "412" in op["responses"], (method, path)
        assert "428" in op["responses"], (method, path)
        conflict = _component(spec, op["responses"]["412"]["content"]["application/json"]["schema"])
        current = _component(spec, conflict["properties"]["current"])
        assert current["properties"]["version"]["type"] == "integer"
        assert current["properties"]["value"]["type"] == "number"


def test_etag_declared_on_every_response_that_carries_one(spec):
    with_etag = {
        (m, p, code) for p, m, op in _ops(spec) for code, r in op["responses"].items() if "ETag" in r.get("headers", {})
    }
    for resource in ("/api/v1/patients/{patient_id}/", "/api/v1/patients/{patient_id}/labs/{lab_id}/"):
        assert {("get", resource, "200"), ("put", resource, "200"), ("patch", resource, "200")} <= with_etag
    for collection in ("patients/", "patients/{patient_id}/labs/", "patients/{patient_id}/visits/"):
        assert ("post", f"/api/v1/{collection}", "201") in with_etag
    assert ("post", "/api/v1/patients/{patient_id}/treatments/{course_id}/doses/", "201") in with_etag
    assert ("patch", "/api/v1/patients/{patient_id}/treatments/{course_id}/", "200") in with_etag


def test_required_fields_and_strict_bodies(spec):
    schemas = spec["components"]["schemas"]
    for name in ("PatchedPatientUpdateRequest", "PatchedLabUpdateRequest", "PatchedVisitUpdateRequest"):
        assert schemas[name]["required"] == ["change_reason"], name
        assert schemas[name]["additionalProperties"] is False
        reason = schemas[name]["properties"]["change_reason"]
        assert reason["minLength"] == 1 and re.search(reason["pattern"], "   ") is None
    # a course PATCH corrects any of its fields (or stops it): only the reason is required
    assert schemas["PatchedTreatmentUpdateRequest"]["required"] == ["change_reason"]
    assert schemas["PatchedDoseUpdateRequest"]["required"] == ["change_reason"]
    for name, schema in schemas.items():
        if name.endswith("Request") and name != "LabImportUploadRequest":
            assert schema.get("additionalProperties") is False, name
            for prop, field in schema["properties"].items():
                if field.get("type") == "string" and "format" not in field and "enum" not in field:
                    assert re.search(field["pattern"], "a\x00b") is None, (name, prop)
    mrn = schemas["PatientCreateRequest"]["properties"]["mrn"]["pattern"]
    assert re.search(mrn, "DEMO00001") and not re.search(mrn, "DEMO00001\u200b") and not re.search(mrn, "\x12Z9")
    assert not re.search(mrn, "   ")


def test_query_parameters_page_size_cursor_and_lab_import_body(spec):
    patients = spec["paths"]["/api/v1/patients/"]["get"]
    query = _params(patients, "query")
    assert query["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert query["cursor"]["schema"]["type"] == "string"
    assert re.search(query["site"]["schema"]["pattern"], "a\x00") is None
    delete = spec["paths"]["/api/v1/patients/{patient_id}/labs/{lab_id}/"]["delete"]
    reason = _params(delete, "query")["change_reason"]
    assert reason["required"] and reason["schema"]["minLength"] == 1
    lab_import = spec["paths"]["/api/v1/lab-imports/"]["post"]["requestBody"]
    assert lab_import["required"] is True
    assert set(lab_import["content"]) == {"multipart/form-data", "text/csv"}


def test_the_schema_holds_no_patient_data(spec, patient_a):
    text = APIClient().get("/api/schema/?format=json").content.decode()
    identity = patient_a.identity
    for value in (identity.mrn, identity.family_name, patient_a.registry_code, str(patient_a.public_id)):
        assert value not in text


# --- the server does what the schema says ---------------------------------------------------


def test_dose_create_sends_an_etag_like_every_create(clinician_a, patient_a):
    api = api_for(clinician_a)
    course = services.course_start(
        patient=patient_a,
        drug="metreleptin",
        start_date=dt.date(2024, 1, 1),
        dose=5,
        dose_unit="mg/day",
        by=clinician_a,
    )
    url = f"/api/v1/patients/{patient_a.public_id}/treatments/{course.public_id}/doses/"
    response = api.post(url, {"effective_date": "2024-02-01", "dose": 7.5, "dose_unit": "mg/day"}, format="json")
    assert response.status_code == 201, response.json()
    assert response["ETag"] == '"1"'


def test_412_current_values_are_numbers_like_the_lab_body(clinician_a, patient_a):
    api = api_for(clinician_a)
    created = api.post(
        f"/api/v1/patients/{patient_a.public_id}/labs/",
        {"analyte": "triglycerides", "value": 5.2, "unit": "mmol/L", "collected_on": "2024-03-01"},
        format="json",
    )
    url = f"/api/v1/patients/{patient_a.public_id}/labs/{created.json()['id']}/"
    assert (
        api.patch(url, {"value": 6.1, "change_reason": "typo"}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    )
    stale = api.patch(url, {"value": 7, "change_reason": "again"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    current = stale.json()["current"]
    assert current["value"] == 6.1 and current["version"] == 2
    assert current["value"] == api.get(url).json()["value"]


def test_json_types_are_not_coerced(clinician_a, patient_a):
    api = api_for(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/diagnoses/"
    response = api.post(url, {"subtype": "APL", "notes": 0}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"notes": ["Not a valid string."]}
    labs = f"/api/v1/patients/{patient_a.public_id}/labs/"
    lab = {"analyte": "triglycerides", "value": True, "unit": "mmol/L", "collected_on": "2024-03-01", "fasting": "yes"}
    errors = api.post(labs, lab, format="json").json()["errors"]
    assert errors == {
        "value": ["A number is required (a JSON number, or a number as text)."],
        "fasting": ["Must be true or false."],
    }
    # A number as text is declared (oneOf number/string) and read by the one number parser
    # like a form's (RULES.md 5): "5,2" is 5.2, "1,250" is refused with what to type.
    assert api.post(labs, {**lab, "value": "5,2", "fasting": True}, format="json").status_code == 201
    ambiguous = api.post(labs, {**lab, "value": "1,250", "fasting": True, "collected_on": "2024-03-02"}, format="json")
    assert ambiguous.status_code == 400 and "type 1250 or 1.25" in ambiguous.json()["errors"]["value"][0]


def test_blank_change_reason_on_delete_is_refused_as_declared(clinician_a, patient_a):
    api = api_for(clinician_a)
    lab = services.lab_result_record(
        patient=patient_a,
        analyte="triglycerides",
        value=5,
        unit="mmol/L",
        collected_on=dt.date(2024, 3, 1),
        by=clinician_a,
    )
    url = f"/api/v1/patients/{patient_a.public_id}/labs/{lab.public_id}/"
    assert api.delete(url + "?change_reason=", HTTP_IF_MATCH='"1"').status_code == 400
    assert api.delete(url + "?change_reason=x").status_code == 428  # DELETE needs If-Match like PATCH
    assert api.delete(url + "?change_reason=x", HTTP_IF_MATCH="").status_code == 428  # sent, but empty
    assert api.delete(url + "?change_reason=entered+twice", HTTP_IF_MATCH='"1"').status_code == 204


# --- GET /api/v1/alerts/ -----------------------------------------------------------------------


@pytest.fixture
def alerts_ab(patient_a, patient_b, clinician_a, clinician_b):
    raise_alert(patient_a, clinician_a)  # TG_SEVERE, critical, observed 2025-01-10
    raise_alert(patient_a, clinician_a, "600", on=dt.date(2025, 2, 1))  # TG_VERY_HIGH, warning
    raise_alert(patient_a, clinician_a, "60", "glucose", on=dt.date(2025, 3, 1))  # LOW_GLUCOSE, warning
    raise_alert(patient_b, clinician_b)
    return Alert.objects.all()


def _codes(response):
    assert response.status_code == 200, response.json()
    return sorted(a["rule"] for a in response.json()["results"])


def test_alert_list_is_scoped_and_filtered(alerts_ab, clinician_a, clinician_b, patient_a):
    api = api_for(clinician_a)
    body = api.get("/api/v1/alerts/").json()
    assert {a["patient"] for a in body["results"]} == {str(patient_a.public_id)}
    assert {a["site"] for a in body["results"]} == {"SITEA"}
    assert _codes(api.get("/api/v1/alerts/")) == ["LOW_GLUCOSE", "TG_SEVERE", "TG_VERY_HIGH"]
    assert _codes(api.get("/api/v1/alerts/?severity=critical")) == ["TG_SEVERE"]
    assert _codes(api.get("/api/v1/alerts/?rule=LOW_GLUCOSE")) == ["LOW_GLUCOSE"]
    assert _codes(api.get("/api/v1/alerts/?site=SITEB")) == []
    assert _codes(api.get("/api/v1/alerts/?observed_from=2025-02-01&observed_to=2025-02-28")) == ["TG_VERY_HIGH"]
    Alert.objects.filter(rule="LOW_GLUCOSE").update(status=AlertStatus.ACKNOWLEDGED)
    assert _codes(api.get("/api/v1/alerts/?status=acknowledged")) == ["LOW_GLUCOSE"]
    assert _codes(api.get("/api/v1/alerts/?status=open")) == ["TG_SEVERE", "TG_VERY_HIGH"]
    assert _codes(api_for(clinician_b).get("/api/v1/alerts/")) == ["TG_SEVERE"]
    for bad in ("severity=grave", "rule=NOPE", "status=closed", "observed=7", "observed_from=yesterday", "page_size=0"):
        assert api.get(f"/api/v1/alerts/?{bad}").status_code == 400, bad
    assert APIClient().get("/api/v1/alerts/").status_code == 401


def test_alert_list_observed_within_days(clinician_a, patient_a, time_machine):
    time_machine.move_to(dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC))
    raise_alert(patient_a, clinician_a, on=dt.date(2025, 5, 20))
    raise_alert(patient_a, clinician_a, "60", "glucose", on=dt.date(2025, 1, 1))
    api = api_for(clinician_a)
    assert _codes(api.get("/api/v1/alerts/?observed=30")) == ["TG_SEVERE"]
    assert _codes(api.get("/api/v1/alerts/?observed=365")) == ["LOW_GLUCOSE", "TG_SEVERE"]


def test_alert_list_for_a_researcher_shows_consenting_patients_without_identity(
    alerts_ab, researcher_a, site_a, clinician_a
):
    no_consent = make_patient(site=site_a, by=clinician_a, research_consent=False)
    raise_alert(no_consent, clinician_a)
    body = api_for(researcher_a).get("/api/v1/alerts/").json()
    assert no_consent.registry_code not in {a["registry_code"] for a in body["results"]}
    assert len(body["results"]) == 3
    assert not {"mrn", "family_name", "given_name", "birth_date"} & set(body["results"][0])


def test_alert_list_pages_with_the_cursor_in_fixed_queries(alerts_ab, clinician_a, django_assert_num_queries):
    api = api_for(clinician_a)
    # token lookup with the memberships (scope), token last_used update, one page of alerts
    # with patient, site, lab, course and visit joined
    with django_assert_num_queries(3):
        first = api.get("/api/v1/alerts/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert not {a["id"] for a in first["results"]} & {a["id"] for a in second["results"]}


def test_every_operation_declares_the_web_servers_414(spec):
    for path, method, op in _ops(spec):
        if method in ("get", "post", "put", "patch", "delete"):
            assert list(op["responses"]["414"]["content"]) == ["text/html"], (method, path)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_an_overlong_request_line_is_the_declared_414(clinician_a, patient_a):
    """gunicorn refuses it before the application: the status and content type the schema
    declares for every operation (found by schemathesis: a query of 4,405 bytes)."""
    import http.client
    from urllib.parse import urlsplit

    from tests import live

    url_path = f"/api/v1/patients/{patient_a.public_id}/alerts/?status=" + "x" * 5000
    with live.gunicorn() as server:
        where = urlsplit(server.url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        conn.request("GET", url_path)
        response = conn.getresponse()
        conn.close()
    assert response.status == 414
    assert response.headers.get_content_type() == "text/html"
