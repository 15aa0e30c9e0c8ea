"""Registry API: auth, patients, sites, diagnoses, genetics, phenotypes, catalogue, limits.

Every endpoint gets the standard negative set: works / other site -> 404 / researcher ->
no identity and no writes / anonymous -> 401 / stale If-Match -> 412.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from registry.models import AuditEvent, Patient
from registry.tokens import token_issue, token_revoke

IDENTITY = {"family_name", "given_name", "birth_date", "mrn", "phone", "email"}


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _token, key = token_issue(user=user, name="test")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api_a(clinician_a):
    return api_for(clinician_a)


@pytest.fixture
def api_res(researcher_a):
    return api_for(researcher_a)


NEW_PATIENT = {
    "site": "SITEA",
    "sex": "female",
    "birth_date": "1988-02-03",
    "family_name": "Doe",
    "given_name": "Jane",
    "mrn": "A-77",
    "subtype": "FPLD2",
}


# --- authentication ---------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_gets_401_with_bearer_challenge(site_a):
    response = APIClient().get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.django_db
def test_revoked_token_is_refused_and_token_in_url_is_ignored(clinician_a):
    token, key = token_issue(user=clinician_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/sites/").status_code == 200
    token_revoke(token=token)
    assert client.get("/api/v1/sites/").status_code == 401
    assert APIClient().get(f"/api/v1/sites/?token={key}").status_code == 401


@pytest.mark.django_db
def test_the_token_lookup_brings_the_same_scope_as_the_memberships(site_a, site_b):
    from django.utils import timezone

    from registry import access
    from registry.api.authentication import _token_user_orm, token_user
    from registry.models import Membership, User
    from tests.factories import make_user

    mixed = make_user("mixed", site=site_a, role="clinician")
    Membership.objects.create(user=mixed, site=site_b, role="researcher")
    users = [
        mixed,
        make_user("lead", site=site_b, role="site_lead"),
        make_user("admin_role", site=site_a, role="registry_admin"),
        make_user("root", is_superuser=True),
        make_user("nobody"),
    ]
    for user in users:
        issued, key = token_issue(user=user)
        found, token = token_user(key, now=timezone.now())
        assert found.pk == user.pk == token.user_id and token.pk == issued.pk and token.user is found
        assert found._registry_scope == access.scope_for(User.objects.get(pk=user.pk))
        # every column of the user as the ORM reads it (the SQLite path is that ORM query)
        by_orm, token_by_orm = _token_user_orm(key, now=timezone.now(), db="default")
        assert vars(found) | {"_registry_scope": None, "_state": None} == vars(by_orm) | {
            "_registry_scope": None, "_state": None
        }  # fmt: skip
        assert (token.pk, token.last_used_at) == (token_by_orm.pk, token_by_orm.last_used_at)
    assert token_user("ldr_not-a-key", now=timezone.now()) is None
    expired, key = token_issue(user=mixed)
    assert token_user(key, now=expired.expires_at) is None  # refused from that moment on
    revoked, key = token_issue(user=mixed)
    token_revoke(token=revoked)
    assert token_user(key, now=timezone.now()) is None


@pytest.mark.django_db
def test_membership_changes_apply_to_the_next_api_request(clinician_a, site_a, patient_a):
    from registry.models import Membership

    api = api_for(clinician_a)
    labs = f"/api/v1/patients/{patient_a.public_id}/labs/"
    assert api.get(labs).status_code == 200
    Membership.objects.filter(user=clinician_a).update(role="researcher")
    assert api.get(labs).status_code == 200  # a researcher reads consenting patients' labs
    assert "family_name" not in api.get(f"/api/v1/patients/{patient_a.public_id}/").json()
    Membership.objects.filter(user=clinician_a).delete()
    assert api.get(labs).status_code == 403


@pytest.mark.django_db
def test_user_without_membership_is_forbidden(db):
    from tests.factories import make_user

    assert api_for(make_user("nobody")).get("/api/v1/patients/").status_code == 403


@pytest.mark.django_db
def test_session_auth_keeps_csrf(clinician_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clinician_a)
    assert client.get("/api/v1/sites/").status_code == 200
    response = client.post("/api/v1/patients/", NEW_PATIENT, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- sites and catalogue ----------------------------------------------------------------


@pytest.mark.django_db
def test_sites_lists_only_own_sites(api_a, site_b):
    assert [s["code"] for s in api_a.get("/api/v1/sites/").json()] == ["SITEA"]


@pytest.mark.django_db
def test_catalogue_endpoints(api_res):
    analytes = {a["code"]: a for a in api_res.get("/api/v1/analytes/").json()}
    assert analytes["triglycerides"]["canonical_unit"] == "mmol/L"
    assert "mg/dL" in analytes["triglycerides"]["accepted_units"]
    assert "2571-8" in analytes["triglycerides"]["loinc"]
    drugs = {d["code"]: d for d in api_res.get("/api/v1/drugs/").json()}
    assert drugs["metreleptin"]["dose_units"] == ["mg/day"]
    assert any(s["code"] == "CGL1" for s in api_res.get("/api/v1/subtypes/").json())


# --- patients ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_patient_create_returns_uuid_code_and_etag(api_a):
    response = api_a.post("/api/v1/patients/", NEW_PATIENT, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    patient = Patient.objects.get(public_id=body["id"])
    assert body["registry_code"] == patient.registry_code
    assert body["mrn"] == "A-77" and body["subtype"] == "FPLD2" and body["site"] == "SITEA"
    assert response["ETag"] == '"1"'


@pytest.mark.django_db
def test_patient_create_service_errors_are_400_with_fields(api_a, patient_a):
    dup = {**NEW_PATIENT, "mrn": patient_a.identity.mrn, "birth_date": "2999-01-01"}
    response = api_a.post("/api/v1/patients/", dup, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "already registered" in errors["mrn"][0]
    assert "future" in errors["birth_date"][0]


@pytest.mark.django_db
def test_patient_create_at_other_site_is_404_and_writes_nothing(api_a, site_b):
    before = Patient.objects.count()
    response = api_a.post("/api/v1/patients/", {**NEW_PATIENT, "site": "SITEB"}, format="json")
    assert response.status_code == 404
    assert Patient.objects.count() == before


@pytest.mark.django_db
def test_patient_create_refuses_read_only_and_unknown_fields(api_a):
    response = api_a.post("/api/v1/patients/", {**NEW_PATIENT, "registry_code": "LD-999999"}, format="json")
    assert response.status_code == 400
    assert "registry_code" in response.json()["errors"]


@pytest.mark.django_db
def test_researcher_cannot_write_and_sees_no_identity(api_res, patient_a):
    assert api_res.post("/api/v1/patients/", NEW_PATIENT, format="json").status_code == 403
    listed = api_res.get("/api/v1/patients/").json()["results"]
    assert [p["id"] for p in listed] == [str(patient_a.public_id)]
    assert not IDENTITY & set(listed[0])
    detail = api_res.get(f"/api/v1/patients/{patient_a.public_id}/")
    assert detail.status_code == 200 and not IDENTITY & set(detail.json())
    assert "Testperson" not in detail.content.decode()
    response = api_res.patch(
        f"/api/v1/patients/{patient_a.public_id}/",
        {"sex": "male", "change_reason": "x"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_patient_list_other_site_absent_and_detail_404(api_a, patient_a, patient_b):
    ids = [p["id"] for p in api_a.get("/api/v1/patients/").json()["results"]]
    assert ids == [str(patient_a.public_id)]
    assert api_a.get(f"/api/v1/patients/{patient_b.public_id}/").status_code == 404
    response = api_a.patch(
        f"/api/v1/patients/{patient_b.public_id}/",
        {"sex": "male", "change_reason": "x"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 404
    patient_b.refresh_from_db()
    assert patient_b.sex == "female"


@pytest.mark.django_db
def test_patient_list_query_count(api_a, clinician_a, site_a, django_assert_num_queries):
    from tests.factories import make_patient

    for _ in range(5):
        make_patient(site=site_a, by=clinician_a)
    # token lookup with the memberships (scope), token last_used update, patients page with
    # site and identity joined
    with django_assert_num_queries(3):
        response = api_a.get("/api/v1/patients/?page_size=3")
    assert len(response.json()["results"]) == 3 and response.json()["next"]


@pytest.mark.django_db
def test_page_size_is_bounded_and_out_of_range_is_refused(api_a, clinician_a, site_a):
    from tests.factories import make_patient

    for _ in range(3):
        make_patient(site=site_a, by=clinician_a)
    assert len(api_a.get("/api/v1/patients/?page_size=200").json()["results"]) == 3
    for bad in ("100000", "201", "0", "-1", "abc", "2.5"):
        response = api_a.get(f"/api/v1/patients/?page_size={bad}")
        assert response.status_code == 400, bad
        assert "from 1 to 200" in response.json()["errors"]["page_size"][0]


@pytest.mark.django_db
def test_patient_patch_needs_if_match_reason_and_current_version(api_a, patient_a):
    url = f"/api/v1/patients/{patient_a.public_id}/"
    etag = api_a.get(url)["ETag"]
    assert api_a.patch(url, {"sex": "male", "change_reason": "typo"}, format="json").status_code == 428
    no_reason = api_a.patch(url, {"sex": "male"}, format="json", HTTP_IF_MATCH=etag)
    assert no_reason.status_code == 400 and "change_reason" in no_reason.json()["errors"]
    ok = api_a.patch(
        url, {"sex": "male", "family_name": "Newname", "change_reason": "typo"}, format="json", HTTP_IF_MATCH=etag
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["sex"] == "male" and ok.json()["family_name"] == "Newname"
    assert ok["ETag"] == '"2"'
    stale = api_a.patch(url, {"sex": "female", "change_reason": "again"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    patient_a.refresh_from_db()
    assert patient_a.sex == "male" and patient_a.version == 2
    assert AuditEvent.objects.filter(patient=patient_a, action="update", reason="typo").exists()


@pytest.mark.django_db
def test_patient_read_only_fields_cannot_change(api_a, patient_a):
    url = f"/api/v1/patients/{patient_a.public_id}/"
    for field, value in (("registry_code", "LD-1"), ("site", "SITEB"), ("version", 9), ("id", "x")):
        response = api_a.patch(url, {field: value, "change_reason": "x"}, format="json", HTTP_IF_MATCH='"1"')
        assert response.status_code == 400, field
    patient_a.refresh_from_db()
    assert patient_a.version == 1 and patient_a.home_site.code == "SITEA"


# --- diagnoses, genetics, phenotypes ----------------------------------------------------


@pytest.mark.django_db
def test_diagnoses_and_genetics(api_a, api_res, patient_a, patient_b):
    base = f"/api/v1/patients/{patient_a.public_id}"
    dx = api_a.post(f"{base}/diagnoses/", {"subtype": "FPLD2", "basis": "genetic"}, format="json")
    assert dx.status_code == 201, dx.json()
    assert {d["subtype"] for d in api_a.get(f"{base}/diagnoses/").json()["results"]} == {"CGL1", "FPLD2"}
    gen = api_a.post(
        f"{base}/genetics/", {"gene": "LMNA", "hgvs_c": "c.1444C>T", "acmg_class": "pathogenic"}, format="json"
    )
    assert gen.status_code == 201, gen.json()
    bad = api_a.post(f"{base}/genetics/", {"gene": "lmna!", "hgvs_c": "nonsense"}, format="json")
    assert bad.status_code == 400 and {"gene", "hgvs_c"} <= set(bad.json()["errors"])
    assert api_res.post(f"{base}/diagnoses/", {"subtype": "FPLD2"}, format="json").status_code == 403
    assert api_res.get(f"{base}/genetics/").status_code == 200
    other = f"/api/v1/patients/{patient_b.public_id}"
    for path in ("diagnoses", "genetics", "phenotypes"):
        assert api_a.get(f"{other}/{path}/").status_code == 404
    assert api_a.post(f"{other}/diagnoses/", {"subtype": "FPLD2"}, format="json").status_code == 404
    assert patient_b.diagnoses.count() == 1
    assert api_a.get(f"{base}/phenotypes/").json()["results"] == []


# --- limits -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_body_too_large_is_413_json(api_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({**NEW_PATIENT, "family_name": "x" * 2000})
    response = api_a.post("/api/v1/patients/", body, content_type="application/json")
    assert response.status_code == 413
    assert "too large" in response.json()["detail"] or "larger" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        "[" * 20 + "1" + "]" * 20,
        '{"site": "SITEA", "family_name": "Nul\\u0000byte"}',
        '{"site": ',
        '{"value": NaN}',
        "\xff\xfe not json",
    ],
)
def test_malformed_nested_or_nul_json_is_400(api_a, body):
    response = api_a.post("/api/v1/patients/", body.encode("latin-1", "replace"), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.django_db
def test_nul_in_query_string_is_400(api_a):
    assert api_a.get("/api/v1/patients/?site=A%00B").status_code == 400


@pytest.mark.django_db
def test_throttling_per_user(api_a, settings):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    old = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "3/min"}
    try:
        codes = [api_a.get("/api/v1/sites/").status_code for _ in range(4)]
    finally:
        UserRateThrottle.THROTTLE_RATES = old
        cache.clear()
    assert codes == [200, 200, 200, 429]


# --- schema and docs --------------------------------------------------------------------


def test_schema_validates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


@pytest.mark.django_db
def test_schema_and_docs_served_without_cdn(api_a, settings):
    # No collectstatic in tests: plain storage instead of the hashed manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    schema = api_a.get("/api/schema/?format=json")
    assert schema.status_code == 200
    spec = json.loads(schema.content)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert {"401", "403", "429"} <= set(op["responses"]), (path, method)
            if method in ("put", "patch"):
                assert {"412", "428"} <= set(op["responses"]), (path, method)
    docs = api_a.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "<script>" not in html
    # The schema itself is public (generators fetch it without a token); the docs page is not.
    assert APIClient().get("/api/schema/?format=json").json()["paths"] == spec["paths"]
    assert APIClient().get("/api/docs/").status_code == 401
