"""SECURITY.md item 22: every read of identifying data writes an access event (chart, API
patient detail, identity search without its text, the admin's patient page), and site
leads and administrators see who saw and changed a patient, also as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from rest_framework.test import APIClient

from registry.models import AuditEvent, User
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def views_of(patient, user):
    return AuditEvent.objects.filter(action="view", patient=patient, user=user)


def test_chart_and_api_detail_reads_are_audited(clinician_a, patient_a):
    client_for(clinician_a).get(f"/patients/{patient_a.public_id}/")
    api = APIClient()
    api.force_authenticate(clinician_a)
    assert api.get(f"/api/v1/patients/{patient_a.public_id}/").status_code == 200
    assert views_of(patient_a, clinician_a).count() == 2
    assert views_of(patient_a, clinician_a).filter(reason="api").count() == 1


def test_a_researcher_api_read_has_no_identity_and_no_identity_event(researcher_a, site_a, clinician_a):
    from tests.factories import make_patient

    patient = make_patient(site=site_a, by=clinician_a, research_consent=True)
    api = APIClient()
    api.force_authenticate(researcher_a)
    body = api.get(f"/api/v1/patients/{patient.public_id}/").json()
    assert "family_name" not in body or body["family_name"] in (None, "")
    assert not views_of(patient, researcher_a).exists()


def test_an_identity_search_records_the_count_never_the_text(clinician_a, patient_a):
    name = patient_a.identity.family_name
    response = client_for(clinician_a).get("/patients/", {"q": name})
    assert response.status_code == 200
    search = AuditEvent.objects.get(action="search", user=clinician_a)
    assert search.changes == {"results": [None, 1]} and search.reason == "patient list"
    assert name not in str(search.changes) + search.reason + search.object_id
    client_for(clinician_a).get("/patients/")  # no search: nothing recorded
    assert AuditEvent.objects.filter(action="search").count() == 1


def test_the_admin_patient_page_with_identity_is_audited(registry_admin, patient_a):
    User.objects.filter(pk=registry_admin.pk).update(is_staff=True)
    registry_admin.refresh_from_db()
    response = client_for(registry_admin).get(f"/admin/registry/patient/{patient_a.pk}/change/")
    assert response.status_code == 200 and patient_a.identity.mrn.encode() in response.content
    assert views_of(patient_a, registry_admin).filter(reason="admin").count() == 1


def test_site_lead_sees_who_saw_and_changed_the_record(lead_a, clinician_a, patient_a):
    client_for(clinician_a).get(f"/patients/{patient_a.public_id}/")
    page = client_for(lead_a).get(f"/patients/{patient_a.public_id}/access-log/")
    html = page.content.decode()
    assert page.status_code == 200 and "clin_a" in html and "View" in html and "Create" in html
    response = client_for(lead_a).get(f"/patients/{patient_a.public_id}/access-log.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at_utc", "user", "action", "record_type", "record_id", "fields", "reason"]
    assert ["clin_a", "view"] in [r[1:3] for r in rows[1:]]
    assert patient_a.identity.family_name not in "".join(",".join(r) for r in rows)
    assert AuditEvent.objects.filter(action="export", user=lead_a, patient=patient_a).count() == 1


def test_the_access_log_is_for_leads_and_admins_only(clinician_a, researcher_a, registry_admin, patient_a, site_b):
    url = f"/patients/{patient_a.public_id}/access-log/"
    assert client_for(clinician_a).get(url).status_code == 403
    assert client_for(clinician_a).get(url.rstrip("/") + ".csv").status_code == 403
    assert client_for(researcher_a).get(url).status_code == 403  # reads the pseudonymous record, not its log
    assert client_for(make_user("lead_b", site=site_b, role="site_lead")).get(url).status_code == 404
    assert client_for(registry_admin).get(url).status_code == 200


def test_a_name_search_in_the_admin_records_the_count_only(registry_admin, patient_a):
    User.objects.filter(pk=registry_admin.pk).update(is_staff=True)
    registry_admin.refresh_from_db()
    name = patient_a.identity.family_name
    response = client_for(registry_admin).get("/admin/registry/patient/", {"q": name})
    assert response.status_code == 200
    search = AuditEvent.objects.get(action="search", user=registry_admin)
    assert search.reason == "admin" and search.changes == {"results": [None, 1]}
    assert name not in str(search.changes)
