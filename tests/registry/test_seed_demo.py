"""The demo cohort: the pure plan (no database) and the seed command (idempotent, scoped)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.utils import timezone

from clinical import catalogue
from clinical.models import Alert, AlertStatus, LabResult, TreatmentCourse, Visit
from clinical.services import lab_validate, visit_validate
from registry import access, demo
from registry.models import AuditEvent, GeneticFinding, Membership, Patient, Site, User
from registry.validators import hgvs_c_is_valid, hgvs_p_is_valid

TODAY = dt.date(2025, 6, 1)
TG_SEVERE = catalogue.THRESHOLDS["TG_SEVERE"].canonical


@pytest.fixture(scope="module")
def plan():
    return demo.cohort_plan(60, seed=1, today=TODAY)


def test_plan_is_deterministic_and_patients_do_not_depend_on_cohort_size(plan):
    assert demo.cohort_plan(60, seed=1, today=TODAY) == plan
    assert demo.cohort_plan(15, seed=1, today=TODAY) == plan[:15]
    assert demo.cohort_plan(15, seed=2, today=TODAY) != plan[:15]


def test_plan_covers_every_subtype_group_and_three_sites(plan):
    groups = {catalogue.SUBTYPES[p.subtype].group for p in plan}
    assert groups == set(catalogue.SUBTYPE_GROUPS)
    assert {catalogue.SUBTYPES[p.subtype].group for p in demo.cohort_plan(10, seed=1, today=TODAY)} == groups
    assert {p.site for p in plan} == {s.code for s in demo.SITES}


def test_plan_values_pass_the_services_validation(plan):
    for p in plan:
        for v in p.visits:
            visit_validate(v.fields, today=TODAY)
            for lab in v.labs:
                lab_validate(analyte=lab.analyte, value=lab.value, unit=lab.unit, collected_on=v.day, today=TODAY)


def test_plan_has_both_unit_systems_severe_triglycerides_and_responders(plan):
    tg = [
        (lab, catalogue.ANALYTES["triglycerides"].to_canonical(lab.value, lab.unit))
        for p in plan
        for v in p.visits
        for lab in v.labs
        if lab.analyte == "triglycerides"
    ]
    assert {lab.unit for lab, _ in tg} == {"mg/dL", "mmol/L"}
    assert {lab.unit for p in plan for v in p.visits for lab in v.labs if lab.analyte == "hba1c"} == {"%", "mmol/mol"}
    assert any(c >= TG_SEVERE for _, c in tg)
    treated = [p for p in plan if p.on_metreleptin]
    assert len(treated) >= 10
    assert any(p.responder for p in treated) and any(p.responder is False for p in treated)


def test_responders_triglycerides_fall_after_metreleptin(plan):
    falls = 0
    responders = [p for p in plan if p.responder]
    for p in responders:
        start = next(c.start for c in p.courses if c.drug == "metreleptin")
        tg = {
            v.day: catalogue.ANALYTES["triglycerides"].to_canonical(lab.value, lab.unit)
            for v in p.visits
            for lab in v.labs
            if lab.analyte == "triglycerides"
        }
        baseline = tg[start]
        late = [val for day, val in tg.items() if day > start + dt.timedelta(days=300)]
        if late and max(late) < baseline:
            falls += 1
    assert falls >= 0.8 * len(responders)


def test_plan_timeline_and_names_are_plausible(plan):
    for p in plan:
        days = [v.day for v in p.visits]
        assert days == sorted(days) and days[-1] <= TODAY
        assert 2 <= (days[-1] - days[0]).days / 365.25 <= 10.1
        assert p.birth_date < p.onset_date <= p.diagnosis_date <= days[0] or p.onset_date == p.birth_date
        assert p.family_name.startswith("Demo-") and p.given_name == "Test"
        assert all(v.fields.get("weight_kg") for v in p.visits)
        for g in p.genetics:
            assert g.gene in catalogue.SUBTYPES[p.subtype].genes
            assert hgvs_c_is_valid(g.hgvs_c) and hgvs_p_is_valid(g.hgvs_p)
    assert len({p.mrn for p in plan}) == len(plan)
    assert sum(p.consent for p in plan) / len(plan) > 0.7


def test_demo_password_passes_the_validators():
    for u in demo.USERS:
        validate_password(demo.DEMO_PASSWORD, User(username=u.username, first_name=u.first_name, last_name=u.last_name))


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_scoped():
    out = StringIO()
    call_command("seed_demo", patients=10, not_production=True, stdout=out)
    text = out.getvalue()
    assert "10 patients created" in text
    for u in demo.USERS:
        assert u.username in text
    counts = (
        Patient.objects.count(),
        Visit.objects.count(),
        LabResult.objects.count(),
        TreatmentCourse.objects.count(),
        GeneticFinding.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        Site.objects.count(),
        AuditEvent.objects.count(),
    )
    assert counts[0] == 10 and counts[5] == len(demo.USERS) and counts[7] == 3
    assert Visit.objects.filter(source="demo").count() == counts[1] > 50
    call_command("seed_demo", patients=10, not_production=True, stdout=StringIO())
    assert (
        Patient.objects.count(),
        Visit.objects.count(),
        LabResult.objects.count(),
        TreatmentCourse.objects.count(),
        GeneticFinding.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        Site.objects.count(),
        AuditEvent.objects.count(),
    ) == counts

    groups = {catalogue.SUBTYPES[s].group for s in Patient.objects.values_list("primary_subtype", flat=True)}
    assert groups == set(catalogue.SUBTYPE_GROUPS)
    assert set(LabResult.objects.filter(analyte="triglycerides").values_list("unit", flat=True)) == {"mg/dL", "mmol/L"}
    assert LabResult.objects.filter(analyte="triglycerides", canonical_value__gte=TG_SEVERE).exists()

    clinician = User.objects.get(username="clin_north")
    assert clinician.check_password(demo.DEMO_PASSWORD)
    mine = access.patients_for_user(clinician)
    assert mine.exists()
    assert set(mine.values_list("home_site__code", flat=True)) == {"DEMO-NORTH"}
    assert mine.count() == Patient.objects.filter(home_site__code="DEMO-NORTH").count() < Patient.objects.count()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and access.patients_for_user(admin).count() == 10
    researcher = User.objects.get(username="researcher")
    assert access.is_researcher_only(researcher)
    assert access.patients_for_user(researcher).count() == Patient.objects.filter(research_consent=True).count()


@pytest.mark.django_db
def test_growing_the_cohort_adds_only_the_new_patients():
    call_command("seed_demo", patients=4, not_production=True, stdout=StringIO())
    first = set(Patient.objects.values_list("identity__mrn", flat=True))
    out = StringIO()
    call_command("seed_demo", patients=6, not_production=True, stdout=out)
    assert "2 patients created, 4 already present" in out.getvalue()
    assert first < set(Patient.objects.values_list("identity__mrn", flat=True))


@pytest.mark.django_db
def test_seed_acknowledges_historic_alerts_and_leaves_recent_ones_open():
    """Old results were reviewed at the time: their alerts are acknowledged by the site's
    clinician; the recent ones stay open for the worklist. A second run changes nothing."""
    out = StringIO()
    call_command("seed_demo", patients=12, not_production=True, stdout=out)
    before = timezone.localdate() - dt.timedelta(days=demo.HISTORY_REVIEWED_AFTER_DAYS)
    old = Alert.objects.filter(observed_on__lt=before)
    recent = Alert.objects.filter(observed_on__gte=before)
    assert not Alert.objects.filter(observed_on__isnull=True).exists()
    acked = old.filter(status=AlertStatus.ACKNOWLEDGED).select_related("acknowledged_by", "patient__home_site")
    assert acked.count() > 10 and not old.filter(status=AlertStatus.OPEN).exists()
    assert f"{acked.count()} historic alert(s) acknowledged" in out.getvalue()
    for a in acked:
        assert a.acknowledged_by.username == demo.CLINICIAN_OF_SITE[a.patient.home_site.code]
        assert a.acknowledge_note == demo.HISTORY_NOTE
    assert recent.filter(status=AlertStatus.OPEN).exists()
    assert not recent.filter(status=AlertStatus.ACKNOWLEDGED).exists()
    state = sorted(Alert.objects.values_list("id", "status", "acknowledged_at"))
    audits = AuditEvent.objects.count()
    out = StringIO()
    call_command("seed_demo", patients=12, not_production=True, stdout=out)
    assert "0 historic alert(s) acknowledged" in out.getvalue()
    assert sorted(Alert.objects.values_list("id", "status", "acknowledged_at")) == state
    assert AuditEvent.objects.count() == audits
