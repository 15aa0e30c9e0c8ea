"""Visit edit covers skinfolds and HPO findings (one service call, audited, optimistic
concurrency); the visit form reports every row's errors in one submit even when a date
cannot be read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from clinical import services
from clinical.models import LabResult, Skinfold, Visit
from registry.models import AuditEvent, PhenotypeObservation
from tests.clinical.test_views_visits import counts, form_data
from tests.factories import make_visit

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


@pytest.fixture
def visit(patient_a, clinician_a):
    return make_visit(
        patient=patient_a,
        by=clinician_a,
        visit_date=DAY,
        weight_kg="60",
        skinfolds=[("triceps", "5")],
        phenotypes=[("HP:0002155", False)],
    )


def edit_url(v):
    return reverse("visit-edit", args=[v.public_id])


def edit_post(v, **extra):
    data = {
        "visit_date": v.visit_date.isoformat(),
        "weight_kg": "60",
        "version": str(v.version),
        "change_reason": "skinfolds re-measured",
        "skinfolds-TOTAL_FORMS": "3",
        "skinfolds-INITIAL_FORMS": "1",
        "skinfolds-0-site": "triceps",
        "skinfolds-0-mm": "6",
        "skinfolds-1-site": "calf",
        "skinfolds-1-mm": "7,5",
        "phenotypes-TOTAL_FORMS": "2",
        "phenotypes-INITIAL_FORMS": "1",
        "phenotypes-0-term": "HP:0002155 Hypertriglyceridemia",
        "phenotypes-0-status": "excluded",
    }
    data.update(extra)
    return data


def test_edit_page_shows_the_visits_skinfolds_and_findings(client, clinician_a, visit):
    client.force_login(clinician_a)
    resp = client.get(edit_url(visit))
    assert resp.status_code == 200
    assert resp.context["skinfolds"].forms[0].initial == {"site": "triceps", "mm": "5"}
    assert resp.context["phenotypes"].forms[0].initial["term"].startswith("HP:0002155")


def test_edit_replaces_skinfolds_and_findings_in_one_audited_change(client, clinician_a, visit):
    client.force_login(clinician_a)
    resp = client.post(edit_url(visit), edit_post(visit))
    assert resp.status_code == 302
    visit.refresh_from_db()
    assert visit.version == 2
    assert sorted((s.site, float(s.mm)) for s in visit.skinfolds.all()) == [("calf", 7.5), ("triceps", 6.0)]
    obs = visit.phenotypes.get()
    assert obs.hpo_id == "HP:0002155" and obs.excluded
    ev = AuditEvent.objects.filter(model="clinical.Visit", action="update").get()
    assert ev.reason == "skinfolds re-measured"
    assert ev.changes["skinfolds"] == [["triceps 5 mm"], ["calf 7.5 mm", "triceps 6 mm"]]
    assert ev.changes["phenotypes"] == [["HP:0002155 present"], ["HP:0002155 excluded"]]


def test_clearing_rows_removes_them_and_date_change_moves_findings(client, clinician_a, visit):
    client.force_login(clinician_a)
    data = edit_post(visit, **{"skinfolds-0-site": "", "skinfolds-0-mm": "", "skinfolds-1-site": ""})
    data["skinfolds-1-mm"] = ""
    data["phenotypes-0-status"] = "present"
    data["visit_date"] = (DAY - dt.timedelta(days=1)).isoformat()
    assert client.post(edit_url(visit), data).status_code == 302
    assert not Skinfold.objects.exists()
    assert PhenotypeObservation.objects.get().observed_on == DAY - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"skinfolds-1-mm": "400"}, ("skinfolds", 1, "mm")),
        ({"skinfolds-1-site": "triceps"}, ("skinfolds", 1, "mm")),
        ({"phenotypes-1-term": "not a term", "phenotypes-1-status": "present"}, ("phenotypes", 1, "term")),
        ({"change_reason": ""}, ("form", None, "change_reason")),
    ],
)
def test_bad_rows_inline_and_nothing_written(client, clinician_a, visit, extra, where):
    client.force_login(clinician_a)
    before = (counts(), sorted(str(s) for s in Skinfold.objects.all()))
    resp = client.post(edit_url(visit), edit_post(visit, **extra))
    assert resp.status_code == 200
    assert (counts(), sorted(str(s) for s in Skinfold.objects.all())) == before
    name, i, field = where
    form = resp.context[name] if i is None else resp.context[name].forms[i]
    assert form.errors[field]
    assert "Nothing was saved" in resp.content.decode()


def test_reason_and_row_errors_in_one_submit(client, clinician_a, visit):
    client.force_login(clinician_a)
    resp = client.post(edit_url(visit), edit_post(visit, change_reason="", **{"skinfolds-1-mm": "400"}))
    assert resp.context["form"].errors["change_reason"] and resp.context["skinfolds"].forms[1].errors["mm"]


def test_stale_version_is_a_conflict_and_rows_are_kept(client, clinician_a, lead_a, visit):
    services.visit_update(visit=visit, by=lead_a, reason="scale", expected_version=1, weight_kg="62")
    client.force_login(clinician_a)
    resp = client.post(edit_url(visit), edit_post(visit))
    assert resp.status_code == 200 and resp.context["conflict"]
    assert [str(s) for s in Skinfold.objects.all()] == ["triceps 5.0 mm"]
    assert resp.context["skinfolds"].forms[0].initial["mm"] == "5"


def test_other_site_and_researcher_404_anonymous_login(client, clinician_b, researcher_a, visit):
    resp = client.post(edit_url(visit), edit_post(visit))
    assert resp.status_code == 302 and reverse("login") in resp["Location"]
    for user in (clinician_b, researcher_a):
        client.force_login(user)
        assert client.post(edit_url(visit), edit_post(visit)).status_code == 404
    assert Visit.objects.get().version == 1


# --- visit form: every row checked in one submit ------------------------------------------


def test_unreadable_date_does_not_hide_the_other_rows_errors(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    before = counts()
    data = form_data(
        **{
            "labs-0-collected_on": "2024-02-31",  # unreadable
            "labs-1-value": "9000",  # implausible HbA1c
            "labs-2-analyte": "glucose",
            "labs-2-value": "abc",
            "labs-2-unit": "mg/dL",
            "skinfolds-1-mm": "400",
            "phenotypes-1-term": "no such finding",
            "diastolic_bp": "130",
        }
    )
    resp = client.post(reverse("visit-new", args=[patient_a.public_id]), data)
    assert resp.status_code == 200 and counts() == before
    labs = resp.context["labs"].forms
    assert labs[0].errors["collected_on"] == ["Enter a valid date."]  # the parse error only
    assert "implausible" in " ".join(labs[1].errors["value"])
    assert "not a number" in " ".join(labs[2].errors["value"])
    assert resp.context["skinfolds"].forms[1].errors["mm"]
    assert resp.context["phenotypes"].forms[1].errors["term"]
    assert resp.context["form"].errors["diastolic_bp"]
    assert len(resp.context["forms_with_errors"]) == 6


def test_unreadable_visit_date_shows_once_and_rows_are_still_checked(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    resp = client.post(
        reverse("visit-new", args=[patient_a.public_id]), form_data(visit_date="31.02.2024", **{"labs-1-value": "9000"})
    )
    assert resp.context["form"].errors["visit_date"] == ["Enter a valid date."]
    assert "implausible" in " ".join(resp.context["labs"].forms[1].errors["value"])
    assert not LabResult.objects.exists()
