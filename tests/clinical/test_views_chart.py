"""Patient chart and change history: identity only for clinical roles, flags, timeline,
404 for another site, fixed query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import services
from clinical.models import Alert
from registry.models import AuditEvent
from tests.factories import make_course, make_lab, make_visit

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


def chart(p):
    return reverse("patient-chart", args=[p.public_id])


def test_anonymous_goes_to_login(client, patient_a):
    for url in (chart(patient_a), reverse("patient-history", args=[patient_a.public_id])):
        resp = client.get(url)
        assert resp.status_code == 302 and reverse("login") in resp["Location"]


def test_other_sites_patient_is_404(client, clinician_b, patient_a):
    client.force_login(clinician_b)
    assert client.get(chart(patient_a)).status_code == 404
    assert client.get(reverse("patient-history", args=[patient_a.public_id])).status_code == 404
    assert client.get("/patients/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_chart_shows_identity_codes_labs_flags_and_timeline(client, clinician_a, patient_a):
    make_visit(patient=patient_a, by=clinician_a, visit_date=DAY, weight_kg="60", height_cm="160")
    make_lab(patient=patient_a, value="1200", collected_on=DAY, by=clinician_a)
    make_lab(patient=patient_a, analyte="hba1c", value="64", unit="mmol/mol", collected_on=DAY, by=clinician_a)
    make_course(patient=patient_a, start_date=DAY, by=clinician_a)
    client.force_login(clinician_a)
    resp = client.get(chart(patient_a))
    body = resp.content.decode()
    assert resp.status_code == 200
    assert patient_a.identity.family_name in body and patient_a.identity.mrn in body
    assert "OMIM:608594" in body and "MONDO:0012071" in body  # CGL1 codes
    latest = {lab.analyte: lab for lab in resp.context["chart"].latest}
    assert (latest["triglycerides"].text, latest["triglycerides"].flag) == ("1200", "critical")
    assert (latest["hba1c"].text, latest["hba1c"].unit, latest["hba1c"].flag) == ("8.0", "%", "H")
    dose = resp.context["chart"].courses[0].doses[0]
    assert str(dose.per_kg) == "0.083" and str(dose.ml) == "1.00"
    assert "0.083" in body and "mg/kg/day" in body
    assert AuditEvent.objects.filter(patient=patient_a, action="view").count() == 1
    assert reverse("patient-history", args=[patient_a.public_id]) in body


def test_researcher_sees_pseudonymous_chart_without_write_links(client, researcher_a, patient_a):
    client.force_login(researcher_a)
    resp = client.get(chart(patient_a))
    body = resp.content.decode()
    assert resp.status_code == 200
    assert patient_a.identity.family_name not in body and patient_a.identity.mrn not in body
    assert reverse("visit-new", args=[patient_a.public_id]) not in body
    assert client.get(reverse("patient-history", args=[patient_a.public_id])).status_code == 404


def test_history_lists_changes_with_reason(client, clinician_a, patient_a):
    lab = make_lab(patient=patient_a, analyte="alt", value="40", collected_on=DAY, by=clinician_a)
    services.lab_result_update(result=lab, by=clinician_a, reason="typo in value", expected_version=1, value="41")
    client.force_login(clinician_a)
    body = client.get(reverse("patient-history", args=[patient_a.public_id])).content.decode()
    assert "typo in value" in body and "ALT result of 1 Mar 2024" in body
    assert "clinical.LabResult" not in body


def test_chart_query_count_is_fixed(client, clinician_a, patient_a, django_assert_num_queries):
    for i in range(3):
        day = DAY + dt.timedelta(days=30 * i)
        make_visit(
            patient=patient_a,
            by=clinician_a,
            visit_date=day,
            weight_kg="60",
            labs=[services.LabEntry("triglycerides", str(200 + i), "mg/dL"), services.LabEntry("hba1c", "7", "%")],
        )
    make_course(patient=patient_a, drug="insulin", start_date=DAY, dose="40", by=clinician_a)
    for analyte, value, rule in (("triglycerides", "1500", "TG_SEVERE"), ("glucose", "40", "HYPOGLYCEMIA")):
        r = make_lab(patient=patient_a, analyte=analyte, value=value, unit="mg/dL", collected_on=DAY, by=clinician_a)
        Alert.objects.create(
            patient=patient_a,
            rule=rule,
            subject_key=f"lab:{r.public_id}",
            severity="critical",
            severity_rank=0,
            message="m",
            params={},
            lab_result=r,
        )
    client.force_login(clinician_a)
    client.get(chart(patient_a))
    # session, user, memberships, patient, identity, latest per analyte, recent labs, visits,
    # courses + doses (prefetch), diagnoses, genetics, consents (+ recorded by), phenotypes,
    # view audit (chain lock, head hash and id, insert), open alerts, header critical alert count, header sites, home site,
    # session save (savepoint, update, release), metreleptin courses and HbA1c/TG values of
    # the response summary
    with django_assert_num_queries(26):
        resp = client.get(chart(patient_a))
    assert resp.status_code == 200
    assert resp.context["chart"].courses[0].doses[0].per_kg is not None  # U/kg/day for insulin
