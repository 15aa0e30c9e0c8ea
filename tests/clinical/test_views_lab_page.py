"""The patient's full lab results page: every result, filters, pagination, the user's
units with flags and the value as reported, edit links for writers only, scope."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import LabResult
from tests.factories import make_lab

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


def labs_url(p, query: str = "") -> str:
    return reverse("patient-labs", args=[p.public_id]) + (f"?{query}" if query else "")


@pytest.fixture
def results(patient_a, clinician_a):
    out = []
    for i in range(60):
        out.append(
            make_lab(
                patient=patient_a,
                analyte="triglycerides" if i % 2 else "hba1c",
                value=str(150 + i) if i % 2 else "58",
                unit="mg/dL" if i % 2 else "mmol/mol",
                collected_on=DAY - dt.timedelta(days=i),
                by=clinician_a,
            )
        )
    return out


def test_every_result_paginated_in_the_users_units(client, clinician_a, patient_a, results):
    clinician_a.unit_system = "si"
    clinician_a.save()
    client.force_login(clinician_a)
    resp = client.get(labs_url(patient_a))
    assert resp.status_code == 200
    assert resp.context["page"].paginator.count == 60 and len(resp.context["rows"]) == 50
    body = resp.content.decode()
    assert "mmol/L" in body and "151 mg/dL" in body  # SI shown, as reported kept
    r, lab = resp.context["rows"][0]
    assert r.collected_on == DAY and lab.unit == "mmol/mol"  # newest first, SI unit
    assert reverse("lab-edit", args=[r.public_id]) in body
    page2 = client.get(labs_url(patient_a, "page=2"))
    assert len(page2.context["rows"]) == 10


def test_flags_shown_with_text(client, clinician_a, patient_a):
    make_lab(patient=patient_a, value="1500", collected_on=DAY, by=clinician_a)
    client.force_login(clinician_a)
    body = client.get(labs_url(patient_a)).content.decode()
    assert "critical</span>" in body


def test_filter_by_analyte_and_date_range(client, clinician_a, patient_a, results):
    client.force_login(clinician_a)
    q = f"analyte=triglycerides&date_from={(DAY - dt.timedelta(days=9)).isoformat()}&date_to={DAY.isoformat()}"
    resp = client.get(labs_url(patient_a, q))
    rows = resp.context["rows"]
    assert len(rows) == 5 and {r.analyte for r, _ in rows} == {"triglycerides"}
    assert all(DAY - dt.timedelta(days=9) <= r.collected_on <= DAY for r, _ in rows)
    assert "analyte=triglycerides" in resp.context["query_keep"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2024-13-45", "date_from"),
        ("date_from=2024-03-01&date_to=2024-01-01", "date_to"),
        ("analyte=x", "analyte"),
    ],
)
def test_bad_filter_shows_inline_error_and_lists_everything(client, clinician_a, patient_a, results, query, field):
    client.force_login(clinician_a)
    resp = client.get(labs_url(patient_a, query))
    assert resp.status_code == 200 and resp.context["filters"].errors[field]
    assert resp.context["page"].paginator.count == 60
    assert "The filter was not applied" in resp.content.decode()
    assert LabResult.objects.count() == 60


def test_chart_links_the_page(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    assert labs_url(patient_a) in client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()


def test_other_site_404_anonymous_login_researcher_reads_without_edit_links(
    client, clinician_b, researcher_a, patient_a, results
):
    resp = client.get(labs_url(patient_a))
    assert resp.status_code == 302 and reverse("login") in resp["Location"]
    client.force_login(clinician_b)
    assert client.get(labs_url(patient_a)).status_code == 404
    client.force_login(researcher_a)
    resp = client.get(labs_url(patient_a))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "/edit/" not in body and "/delete/" not in body and "Add lab result" not in body


def test_query_count_is_fixed(client, clinician_a, patient_a, results, django_assert_num_queries):
    client.force_login(clinician_a)
    client.get(labs_url(patient_a))
    # session, user, memberships (scope), patient, view audit row (chain lock, head, insert), count, page of results
    # (+ visit join), header: critical alert count, sites; session save (savepoint, update, release)
    with django_assert_num_queries(14):
        resp = client.get(labs_url(patient_a, "analyte=triglycerides&page=1"))
    assert len(resp.context["rows"]) == 30


def test_viewing_the_lab_page_is_audited(client, clinician_a, patient_a):
    from registry.models import AuditEvent

    client.force_login(clinician_a)
    client.get(labs_url(patient_a))
    event = AuditEvent.objects.filter(action="view", patient=patient_a).latest("id")
    assert event.user == clinician_a
