"""The change history as a clinician reads it: labels, values in the reader's units,
records named as clinicians name them, views on their own tab, filters, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from clinical import services
from registry.models import AuditEvent
from tests.factories import make_lab, make_user

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 5, 2)


def url(p, **query):
    base = reverse("patient-history", args=[p.public_id])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.fixture
def corrected_lab(clinician_a, patient_a):
    lab = make_lab(patient=patient_a, value="150", collected_on=DAY, by=clinician_a)
    services.lab_result_update(result=lab, by=clinician_a, reason="typo", expected_version=1, value="1500")
    return lab


def test_changes_read_as_a_clinician_names_them(client, clinician_a, patient_a, corrected_lab):
    clinician_a.unit_system = "si"
    clinician_a.save()
    client.force_login(clinician_a)
    client.get(reverse("patient-chart", args=[patient_a.public_id]))  # a view: not among the changes
    resp = client.get(url(patient_a))
    body = resp.content.decode()
    assert "Triglycerides result of 2 May 2024" in body
    row = next(r for r in resp.context["rows"] if r.action == "Changed")
    changes = {c.label: (c.before, c.after) for c in row.changes}
    # In the reader's units (SI), through the formatter; the value as reported beside it.
    assert changes["Value"] == ("1.69 mmol/L", "16.94 mmol/L")
    assert changes["As reported"] == ("150 mg/dL", "1500 mg/dL")
    for raw in ("registry.Patient", "clinical.LabResult", "canonical_value", "_id", str(corrected_lab.public_id)):
        assert raw not in body
    assert all(r.action != "Viewed the chart" for r in resp.context["rows"])


def test_views_are_on_their_own_tab(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    client.get(reverse("patient-chart", args=[patient_a.public_id]))
    resp = client.get(url(patient_a, tab="views"))
    assert [r.action for r in resp.context["rows"]] == ["Viewed the chart"]


def test_filters_by_record_type_and_user(client, clinician_a, patient_a, site_a):
    other = make_user("other_clin", site=site_a, first_name="Olga", last_name="Other")
    make_lab(patient=patient_a, value="150", collected_on=DAY, by=clinician_a)
    make_lab(patient=patient_a, analyte="alt", value="40", collected_on=DAY, by=other)
    client.force_login(clinician_a)
    labs = client.get(url(patient_a, type="labs")).context["rows"]
    assert {r.record for r in labs} == {"Triglycerides result of 2 May 2024", "ALT result of 2 May 2024"}
    by_other = client.get(url(patient_a, user=other.pk)).context["rows"]
    assert [r.record for r in by_other] == ["ALT result of 2 May 2024"]
    assert (other.pk, "Olga Other") in client.get(url(patient_a)).context["authors"]
    patient_rows = client.get(url(patient_a, type="patient")).context["rows"]
    assert patient_rows and {r.record for r in patient_rows} <= {"Patient record", "Identity"}


def test_csv_download_is_readable_and_audited(client, clinician_a, patient_a, corrected_lab):
    client.force_login(clinician_a)
    resp = client.get(url(patient_a, format="csv"))
    assert resp["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
    change = next(r for r in rows if r["action"] == "Changed" and r["field"] == "Value")
    assert (change["record"], change["before"], change["after"], change["reason"]) == (
        "Triglycerides result of 2 May 2024",
        "150 mg/dL",
        "1500 mg/dL",
        "typo",
    )
    assert AuditEvent.objects.filter(patient=patient_a, action="export").count() == 1


def test_history_query_count_is_fixed(client, clinician_a, patient_a, django_assert_num_queries):
    """Session, user, memberships, patient, the patient's lab imports (audit index),
    count, page, one query per record type on the page, authors, user and site names,
    header: the same for 3 or 9 lab results."""
    client.force_login(clinician_a)
    for n in (3, 9):
        for i in range(n - patient_a.lab_results.count()):
            make_lab(patient=patient_a, value=str(150 + i), collected_on=DAY - dt.timedelta(days=i), by=clinician_a)
        with django_assert_num_queries(20):
            client.get(url(patient_a))
