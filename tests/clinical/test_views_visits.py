"""Logging a visit with its lab panel in one form; visit edits with optimistic
concurrency. Bad input shows inline, keeps what was typed and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import services
from clinical.models import LabResult, Skinfold, Visit
from registry.models import AuditEvent, PhenotypeObservation
from tests.factories import make_visit

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


def form_data(**extra) -> dict:
    data = {
        "visit_date": DAY.isoformat(),
        "site": "SITEA",
        "weight_kg": "60",
        "height_cm": "160",
        "systolic_bp": "120",
        "diastolic_bp": "80",
        "notes": "<script>alert(1)</script>",
        "labs-TOTAL_FORMS": "3",
        "labs-INITIAL_FORMS": "0",
        "labs-0-analyte": "triglycerides",
        "labs-0-value": "1200",
        "labs-0-unit": "mg/dL",
        "labs-0-fasting": "yes",
        "labs-1-analyte": "hba1c",
        "labs-1-value": "64",
        "labs-1-unit": "mmol/mol",
        "labs-1-collected_on": (DAY - dt.timedelta(days=2)).isoformat(),
        "labs-1-reference_low": "20",
        "labs-1-reference_high": "42",
        "skinfolds-TOTAL_FORMS": "2",
        "skinfolds-INITIAL_FORMS": "0",
        "skinfolds-0-site": "triceps",
        "skinfolds-0-mm": "4,5",
        "skinfolds-1-site": "calf",
        "skinfolds-1-mm": "6",
        "phenotypes-TOTAL_FORMS": "2",
        "phenotypes-INITIAL_FORMS": "0",
        "phenotypes-0-term": "HP:0002155 Hypertriglyceridemia",
        "phenotypes-0-status": "present",
        "phenotypes-1-term": "acanthosis nigricans",
        "phenotypes-1-status": "excluded",
    }
    data.update(extra)
    return data


def counts():
    return (
        Visit.objects.count(),
        LabResult.objects.count(),
        Skinfold.objects.count(),
        PhenotypeObservation.objects.count(),
        AuditEvent.objects.exclude(action="view").count(),
    )


def url(p):
    return reverse("visit-new", args=[p.public_id])


def test_visit_with_lab_panel_in_mixed_units_is_saved_in_one_go(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    assert client.get(url(patient_a)).status_code == 200
    resp = client.post(url(patient_a), form_data())
    assert resp.status_code == 302 and resp["Location"] == reverse("patient-chart", args=[patient_a.public_id])
    visit = Visit.objects.get(patient=patient_a)
    assert float(visit.bmi) == pytest.approx(23.4, abs=0.05)
    labs = {r.analyte: r for r in visit.lab_results.all()}
    assert labs["triglycerides"].unit == "mg/dL" and labs["triglycerides"].fasting is True
    assert labs["triglycerides"].collected_on == DAY
    assert labs["hba1c"].unit == "mmol/mol" and labs["hba1c"].collected_on == DAY - dt.timedelta(days=2)
    assert str(labs["hba1c"].reference_high.normalize()) == "42"
    assert sorted(visit.skinfolds.values_list("site", flat=True)) == ["calf", "triceps"]
    assert str(visit.skinfolds.get(site="triceps").mm) == "4.5"
    obs = {o.hpo_id: o.excluded for o in visit.phenotypes.all()}
    assert obs == {"HP:0002155": False, "HP:0000956": True}
    chart = client.get(resp["Location"]).content.decode()
    assert "<script>alert(1)</script>" not in chart


@pytest.mark.parametrize(
    ("extra", "row_field", "needle"),
    [
        ({"labs-0-value": "99999"}, ("labs", 0, "value"), "implausible"),
        ({"labs-1-unit": "mg/dL"}, ("labs", 1, "unit"), "accepted units"),
        ({"labs-0-analyte": ""}, ("labs", 0, "analyte"), "Unknown analyte"),
        ({"skinfolds-1-mm": "250"}, ("skinfolds", 1, "mm"), "implausible"),
        ({"skinfolds-1-site": "triceps"}, ("skinfolds", 1, "mm"), "entered twice"),
        ({"phenotypes-1-term": "feeling sad"}, ("phenotypes", 1, "term"), "not one of the registry"),
        ({"weight_kg": "abc"}, (None, None, "weight_kg"), "not a number"),
        ({"diastolic_bp": "130"}, (None, None, "diastolic_bp"), "below systolic"),
        ({"visit_date": "2999-01-01"}, (None, None, "visit_date"), "future"),
    ],
)
def test_bad_input_is_shown_inline_and_writes_nothing(client, clinician_a, patient_a, extra, row_field, needle):
    client.force_login(clinician_a)
    before = counts()
    data = form_data(**extra)
    resp = client.post(url(patient_a), data)
    assert resp.status_code == 200
    assert counts() == before
    prefix, index, name = row_field
    form = resp.context["form"] if prefix is None else resp.context[prefix].forms[index]
    assert needle in " ".join(form.errors[name])
    body = resp.content.decode()
    field_id = f"id_{name}" if prefix is None else f"id_{prefix}-{index}-{name}"
    assert f'aria-describedby="{field_id}_errors"' in body and 'aria-invalid="true"' in body
    assert 'role="alert"' in body and "Nothing was saved" in body
    assert f'value="{data["labs-1-value"]}"' in body and 'value="160"' in body  # what was typed is kept


def test_every_error_of_the_panel_is_reported_at_once(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    resp = client.post(
        url(patient_a), form_data(**{"labs-0-value": "99999", "labs-1-unit": "%x", "skinfolds-0-mm": "-1"})
    )
    assert resp.status_code == 200 and Visit.objects.count() == 0
    labs = resp.context["labs"].forms
    assert labs[0].errors["value"] and labs[1].errors["unit"]
    assert resp.context["skinfolds"].forms[0].errors["mm"]
    assert len(resp.context["forms_with_errors"]) == 3


def test_blank_rows_are_ignored(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    data = form_data(**{"labs-2-analyte": "", "labs-2-value": "", "phenotypes-1-term": ""})
    assert client.post(url(patient_a), data).status_code == 302
    assert LabResult.objects.count() == 2 and PhenotypeObservation.objects.count() == 1


def test_other_site_researcher_and_anonymous_cannot_log_visits(client, clinician_b, researcher_a, patient_a):
    assert reverse("login") in client.get(url(patient_a))["Location"]
    for user in (clinician_b, researcher_a):
        client.force_login(user)
        assert client.get(url(patient_a)).status_code == 404
        assert client.post(url(patient_a), form_data()).status_code == 404
    assert Visit.objects.count() == 0


def test_site_must_be_one_the_user_can_write(client, clinician_a, patient_a, site_b):
    client.force_login(clinician_a)
    resp = client.post(url(patient_a), form_data(site="SITEB"))
    assert resp.status_code == 200 and resp.context["form"].errors["site"] and Visit.objects.count() == 0


# --- edit with optimistic concurrency ------------------------------------------------------


def edit_data(visit, **extra):
    data = {
        "visit_date": visit.visit_date.isoformat(),
        "weight_kg": "61",
        "version": "1",
        "change_reason": "re-weighed",
    }
    data.update(extra)
    return data


def test_visit_edit_needs_a_reason_and_saves(client, clinician_a, patient_a):
    visit = make_visit(patient=patient_a, by=clinician_a, visit_date=DAY, weight_kg="60")
    client.force_login(clinician_a)
    edit = reverse("visit-edit", args=[visit.public_id])
    resp = client.post(edit, edit_data(visit, change_reason=""))
    assert resp.status_code == 200 and "reason" in " ".join(resp.context["form"].errors["change_reason"])
    visit.refresh_from_db()
    assert visit.weight_kg == 60 and visit.version == 1
    assert client.post(edit, edit_data(visit)).status_code == 302
    visit.refresh_from_db()
    assert visit.weight_kg == 61 and visit.version == 2


def test_second_editor_gets_a_conflict_and_nothing_is_overwritten(client, clinician_a, lead_a, patient_a):
    visit = make_visit(patient=patient_a, by=clinician_a, visit_date=DAY, weight_kg="60")
    services.visit_update(visit=visit, by=lead_a, reason="scale fixed", expected_version=1, weight_kg="62")
    client.force_login(clinician_a)
    resp = client.post(reverse("visit-edit", args=[visit.public_id]), edit_data(visit, weight_kg="61"))
    assert resp.status_code == 200
    visit.refresh_from_db()
    assert visit.weight_kg == 62 and visit.version == 2
    conflict = resp.context["conflict"]
    weight = next(r for r in conflict["rows"] if r["label"] == "Weight (kg)")
    assert weight == {"label": "Weight (kg)", "saved": "62", "yours": "61", "differs": True}
    body = resp.content.decode()
    assert "someone else changed this record" in body and "scale fixed" in body and "lead_a" in body
    assert resp.context["form"].initial["version"] == 2  # the form now holds the saved values


def test_visit_edit_of_other_site_is_404(client, clinician_b, clinician_a, patient_a):
    visit = make_visit(patient=patient_a, by=clinician_a, visit_date=DAY, weight_kg="60")
    client.force_login(clinician_b)
    assert client.post(reverse("visit-edit", args=[visit.public_id]), edit_data(visit)).status_code == 404
    visit.refresh_from_db()
    assert visit.weight_kg == 60


def test_every_visible_input_has_a_label(client, clinician_a, patient_a):
    import re

    client.force_login(clinician_a)
    body = client.get(url(patient_a)).content.decode()
    body = re.sub(r"<template.*?</template>", "", body, flags=re.S)  # row templates: ids get numbered on use
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\sid="([^"]+)"', body)
    assert len(ids) > 30
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', body))
    assert [i for i in ids if i not in labelled] == []
    assert 'tabindex="1' not in body and 'tabindex="2' not in body  # DOM order is the tab order
