"""Patient list: scope, identity search, filters, sorting, pagination, flags, query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import Alert, AlertStatus, Severity
from registry.models import Patient
from tests.factories import make_course, make_lab, make_patient, make_user

pytestmark = pytest.mark.django_db
URL = "/patients/"
DAY = dt.date(2024, 3, 1)


def lab(patient, analyte, value, unit, by, day=DAY):
    return make_lab(patient=patient, analyte=analyte, value=value, unit=unit, collected_on=day, by=by)


def test_anonymous_is_sent_to_login(client):
    resp = client.get(URL)
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("login"))


def test_clinician_sees_own_site_only_with_identity(client, clinician_a, patient_a, patient_b):
    client.force_login(clinician_a)
    resp = client.get(URL)
    body = resp.content.decode()
    assert resp.status_code == 200
    assert patient_a.registry_code in body and patient_b.registry_code not in body
    assert patient_a.identity.family_name in body


def test_search_by_code_name_and_mrn(client, clinician_a, site_a):
    p1 = make_patient(site=site_a, by=clinician_a, family_name="Okonkwo", mrn="X-777")
    p2 = make_patient(site=site_a, by=clinician_a, family_name="Lindqvist")
    client.force_login(clinician_a)
    for q in ("okonk", "x-777", p1.registry_code):
        body = client.get(URL, {"q": q}).content.decode()
        assert p1.registry_code in body and p2.registry_code not in body, q


def test_researcher_search_never_matches_identity(client, researcher_a, clinician_a, site_a):
    p = make_patient(site=site_a, by=clinician_a, family_name="Okonkwo", research_consent=True)
    client.force_login(researcher_a)
    body = client.get(URL).content.decode()
    assert p.registry_code in body and "Okonkwo" not in body and "MRN" not in body
    assert p.registry_code not in client.get(URL, {"q": "Okonkwo"}).content.decode()
    assert p.registry_code not in client.get(URL, {"q": p.identity.mrn}).content.decode()


def test_clinician_of_two_roles_finds_names_only_where_clinical(client, clinician_a, site_a, site_b, clinician_b):
    from registry.models import Membership

    mixed = make_user("mixed", site=site_a, role="clinician")
    Membership.objects.create(user=mixed, site=site_b, role="researcher")
    hidden = make_patient(site=site_b, by=clinician_b, family_name="Zabaleta", research_consent=True)
    client.force_login(mixed)
    body = client.get(URL).content.decode()
    assert hidden.registry_code in body and "Zabaleta" not in body
    assert hidden.registry_code not in client.get(URL, {"q": "Zabaleta"}).content.decode()


def test_filters_subtype_metreleptin_alerts(client, clinician_a, site_a):
    fpld = make_patient(site=site_a, by=clinician_a, subtype="FPLD2")
    cgl = make_patient(site=site_a, by=clinician_a, subtype="CGL1")
    make_course(patient=cgl, start_date=DAY, by=clinician_a)
    Alert.objects.create(
        patient=fpld, rule="TG_SEVERE", subject_key="x", severity=Severity.CRITICAL, severity_rank=0, message="m"
    )
    client.force_login(clinician_a)

    def codes(params):
        return {r.patient.registry_code for r in client.get(URL, params).context["rows"]}

    assert codes({"subtype": "FPLD2"}) == {fpld.registry_code}
    assert codes({"metreleptin": "1"}) == {cgl.registry_code}
    assert codes({"alerts": "1"}) == {fpld.registry_code}
    assert codes({"subtype": "NOPE"}) == {fpld.registry_code, cgl.registry_code}  # unknown subtype is ignored


def test_sort_and_pagination(client, clinician_a, site_a):
    for i in range(55):
        make_patient(site=site_a, by=clinician_a, family_name=f"Name{i:02d}")
    client.force_login(clinician_a)
    first = client.get(URL).context["rows"]
    assert len(first) == 50
    codes = [r.patient.registry_code for r in first]
    assert codes == sorted(codes)
    desc = [r.patient.registry_code for r in client.get(URL, {"sort": "-registry_code"}).context["rows"]]
    assert desc[0] == max(Patient.objects.values_list("registry_code", flat=True))
    page2 = client.get(URL, {"page": 2, "sort": "-registry_code"})
    assert len(page2.context["rows"]) == 5 and page2.context["page"].number == 2
    names = [r.patient.identity.family_name for r in client.get(URL, {"sort": "-name"}).context["rows"]]
    assert names == sorted(names, reverse=True)


def test_researcher_cannot_sort_by_name(client, researcher_a, clinician_a, site_a):
    make_patient(site=site_a, by=clinician_a, research_consent=True)
    client.force_login(researcher_a)
    resp = client.get(URL, {"sort": "name"})
    assert resp.status_code == 200 and resp.context["filters"].sort == "name"
    assert b">Name" not in resp.content  # no identity column at all


def test_latest_labs_in_user_units_with_flags(client, clinician_a, patient_a):
    lab(patient_a, "triglycerides", "150", "mg/dL", clinician_a, DAY - dt.timedelta(days=30))
    lab(patient_a, "triglycerides", "1200", "mg/dL", clinician_a)  # the latest: critical
    lab(patient_a, "hba1c", "64", "mmol/mol", clinician_a)  # 8.0 %: high
    client.force_login(clinician_a)
    row = client.get(URL).context["rows"][0]
    tg, a1c = row.labs
    assert (tg.text, tg.unit, tg.flag) == ("1200", "mg/dL", "critical")
    assert (a1c.text, a1c.unit, a1c.flag) == ("8.0", "%", "H")
    clinician_a.unit_system = "si"
    clinician_a.save()
    client.force_login(clinician_a)
    resp = client.get(URL)
    tg, a1c = resp.context["rows"][0].labs
    assert (tg.text, tg.unit) == ("13.55", "mmol/L") and (a1c.text, a1c.unit) == ("64", "mmol/mol")
    assert "critical" in resp.content.decode()  # the flag is text, not colour only


def test_header_counts_open_critical_alerts_of_own_sites(client, clinician_a, patient_a, patient_b):
    for p, status in (
        (patient_a, AlertStatus.OPEN),
        (patient_a, AlertStatus.ACKNOWLEDGED),
        (patient_b, AlertStatus.OPEN),
    ):
        Alert.objects.create(
            patient=p,
            rule="TG_SEVERE",
            subject_key=f"{p.pk}{status}",
            severity=Severity.CRITICAL,
            severity_rank=0,
            message="m",
            status=status,
        )
    client.force_login(clinician_a)
    resp = client.get(URL)
    assert str(resp.context["user_critical_alerts"]) == "1"


def test_list_query_count_does_not_grow_with_the_page(client, clinician_a, site_a, django_assert_num_queries):
    for i in range(12):
        p = make_patient(site=site_a, by=clinician_a, subtype="FPLD2")
        lab(p, "triglycerides", str(100 + i), "mg/dL", clinician_a)
        lab(p, "hba1c", "7.1", "%", clinician_a)
        Alert.objects.create(
            patient=p, rule="R", subject_key="s", severity=Severity.WARNING, severity_rank=1, message="m"
        )
    client.force_login(clinician_a)
    client.get(URL)
    # 1 session, 2 user, 3 memberships (scope), 4 count, 5 page of patients (+site, identity),
    # 6 latest TG/HbA1c of the page (window), 7 open alert counts of the page,
    # 8 the user's sites (site filter and header share one queryset), 9 header open critical
    # alert count, 10-12 the search's audit row (chain lock, head hash and id, insert),
    # 13-15 session save in a savepoint (SESSION_SAVE_EVERY_REQUEST)
    with django_assert_num_queries(15):
        resp = client.get(URL, {"q": "LD", "subtype": "FPLD2", "sort": "-name"})
    assert len(resp.context["rows"]) == 12
