"""Registering a patient (identity, diagnosis, genetics, consent; duplicate MRN) and the
profile / unit preference."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AuditEvent, GeneticFinding, Patient, PatientIdentity
from tests.factories import make_patient

pytestmark = pytest.mark.django_db
URL = "/patients/new/"


def reg_data(**extra):
    data = {
        "family_name": "Moreau",
        "given_name": "Lea",
        "birth_date": "1992-04-03",
        "sex": "female",
        "site": "SITEA",
        "mrn": "A-1001",
        "subtype": "FPLD2",
        "diagnosis_basis": "genetic",
        "diagnosis_date": "2015-06-01",
        "research_consent": "yes",
        "consent_version": "v2",
        "consented_on": "2016-01-10",
        "genetics-TOTAL_FORMS": "2",
        "genetics-INITIAL_FORMS": "0",
        "genetics-0-gene": "LMNA",
        "genetics-0-transcript": "NM_170707.4",
        "genetics-0-hgvs_c": "c.1444C>T",
        "genetics-0-hgvs_p": "p.(Arg482Trp)",
        "genetics-0-zygosity": "heterozygous",
        "genetics-0-acmg_class": "pathogenic",
        "genetics-1-zygosity": "unknown",
        "genetics-1-acmg_class": "vus",
    }
    data.update(extra)
    return data


def written():
    return (
        Patient.objects.count(),
        GeneticFinding.objects.count(),
        AuditEvent.objects.exclude(action="sign_in").count(),
    )


def test_register_patient_with_diagnosis_genetics_and_consent(client, clinician_a):
    client.force_login(clinician_a)
    page = client.get(URL).content.decode()
    assert "ORPHA:2348" in page and "OMIM:151660" in page  # subtype choices carry their codes
    resp = client.post(URL, reg_data())
    p = Patient.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse("patient-chart", args=[p.public_id])
    assert p.primary_subtype == "FPLD2" and p.research_consent and p.sex == "female"
    assert p.identity.mrn == "A-1001" and p.genetic_findings.get().hgvs_p == "p.(Arg482Trp)"


def test_duplicate_mrn_is_refused_next_to_the_field(client, clinician_a, site_a):
    make_patient(site=site_a, by=clinician_a, mrn="A-1001")
    before = written()
    client.force_login(clinician_a)
    resp = client.post(URL, reg_data())
    assert resp.status_code == 200 and written() == before
    assert "MRN A-1001 is already registered at SITEA." in resp.context["form"].errors["mrn"]
    assert 'aria-describedby="id_mrn_errors' in resp.content.decode()


@pytest.mark.parametrize(
    ("extra", "where", "field"),
    [
        ({"genetics-0-hgvs_c": "1444C>T"}, "genetics", "hgvs_c"),
        ({"genetics-0-hgvs_p": "Arg482Trp"}, "genetics", "hgvs_p"),
        ({"genetics-0-gene": "lmna"}, "genetics", "gene"),
        ({"family_name": ""}, "form", "family_name"),
        ({"birth_date": "2999-01-01"}, "form", "birth_date"),
        ({"diagnosis_date": "1980-01-01"}, "form", "diagnosis_date"),  # before birth
        ({"consent_version": ""}, "form", "consent_version"),
        ({"sex": ""}, "form", "sex"),
    ],
)
def test_bad_registration_writes_nothing(client, clinician_a, extra, where, field):
    client.force_login(clinician_a)
    before = written()
    resp = client.post(URL, reg_data(**extra))
    assert resp.status_code == 200 and written() == before and PatientIdentity.objects.count() == 0
    form = resp.context["form"] if where == "form" else resp.context["genetics"].forms[0]
    assert form.errors[field]
    assert 'value="Lea"' in resp.content.decode()  # typed values are kept


def test_site_must_be_writable(client, clinician_a, site_b, researcher_a):
    client.force_login(clinician_a)
    resp = client.post(URL, reg_data(site="SITEB"))
    assert resp.status_code == 200 and resp.context["form"].errors["site"] and Patient.objects.count() == 0
    client.force_login(researcher_a)
    assert client.get(URL).status_code == 403
    assert client.post(URL, reg_data()).status_code == 403
    assert Patient.objects.count() == 0


def test_anonymous_goes_to_login(client):
    for url in (URL, "/profile/"):
        resp = client.get(url)
        assert resp.status_code == 302 and reverse("login") in resp["Location"]
    assert client.post("/profile/units/", {"unit_system": "si"}).status_code == 302


def test_profile_sets_units_and_links_tokens(client, clinician_a):
    client.force_login(clinician_a)
    body = client.get("/profile/").content.decode()
    assert "/profile/tokens/" in body and "SITEA" in body
    assert client.post("/profile/", {"unit_system": "si"}).status_code == 302
    clinician_a.refresh_from_db()
    assert clinician_a.unit_system == "si"
    resp = client.post("/profile/", {"unit_system": "imperial"})
    assert resp.status_code == 200 and resp.context["form"].errors["unit_system"]


def test_header_unit_switch_returns_to_the_page_and_refuses_foreign_redirects(client, clinician_a):
    client.force_login(clinician_a)
    resp = client.post("/profile/units/", {"unit_system": "si", "next": "/patients/?q=x"})
    assert resp["Location"] == "/patients/?q=x"
    clinician_a.refresh_from_db()
    assert clinician_a.unit_system == "si"
    resp = client.post("/profile/units/", {"unit_system": "conventional", "next": "https://evil.example/"})
    assert resp["Location"] == reverse("patient-list")
    assert client.get("/profile/units/").status_code == 405


def test_login_page_and_header(client, clinician_a):
    assert client.get(reverse("login")).status_code == 200
    bad = client.post(reverse("login"), {"username": "clin_a", "password": "wrong"})
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()
    ok = client.post(reverse("login"), {"username": "clin_a", "password": "correct horse battery staple"})
    assert ok.status_code == 302
    page = client.get("/patients/").content.decode()
    assert "Ada Clinician" in page and "SITEA" in page and 'name="unit_system"' in page
