"""Additions to a registered patient's record from the chart: diagnosis, genetic finding
(HGVS validated), consent (new version, withdrawal) and a phenotype outside a visit.
Each: works, other site 404, researcher cannot, anonymous -> login, bad input inline with
nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from registry import services
from registry.models import AuditEvent, Consent, Diagnosis, GeneticFinding, PhenotypeObservation

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)

GOOD = {
    "diagnosis-new": {"subtype": "FPLD2", "basis": "genetic", "diagnosis_date": "2020-01-10", "notes": "LMNA"},
    "genetic-new": {
        "gene": "LMNA",
        "transcript": "NM_170707.4",
        "hgvs_c": "c.1444C>T",
        "hgvs_p": "p.(Arg482Trp)",
        "zygosity": "heterozygous",
        "acmg_class": "pathogenic",
        "reported_on": "2021-02-03",
    },
    "phenotype-new": {"hpo_id": "HP:0008887 Adipose tissue loss", "status": "present", "observed_on": "2024-01-05"},
}
BAD = {
    "diagnosis-new": ({"subtype": "", "diagnosis_date": "2999-01-01"}, ["subtype", "diagnosis_date"]),
    "genetic-new": (
        {"gene": "lmna!", "hgvs_c": "1444C>T", "zygosity": "unknown", "acmg_class": "vus"},
        ["gene", "hgvs_c"],
    ),
    "phenotype-new": (
        {"hpo_id": "fat loss", "status": "present", "observed_on": "2999-01-01"},
        ["hpo_id", "observed_on"],
    ),
}
MODEL = {"diagnosis-new": Diagnosis, "genetic-new": GeneticFinding, "phenotype-new": PhenotypeObservation}


def written():
    return (
        Diagnosis.objects.count(),
        GeneticFinding.objects.count(),
        PhenotypeObservation.objects.count(),
        Consent.objects.count(),
        AuditEvent.objects.exclude(action__in=["view", "sign_in"]).count(),  # reads and sign-ins are not writes
    )


@pytest.mark.parametrize("name", list(GOOD))
def test_add_from_chart_works_and_is_audited(client, clinician_a, patient_a, name):
    client.force_login(clinician_a)
    url = reverse(name, args=[patient_a.public_id])
    assert url in client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert client.get(url).status_code == 200
    before = MODEL[name].objects.filter(patient=patient_a).count()
    resp = client.post(url, GOOD[name])
    assert resp.status_code == 302 and resp["Location"] == reverse("patient-chart", args=[patient_a.public_id])
    row = MODEL[name].objects.filter(patient=patient_a).order_by("-id").first()
    assert MODEL[name].objects.filter(patient=patient_a).count() == before + 1
    assert AuditEvent.objects.filter(model=row._meta.label, action="create", user=clinician_a).exists()


def test_added_rows_show_on_the_chart(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    for name in GOOD:
        client.post(reverse(name, args=[patient_a.public_id]), GOOD[name])
    patient_a.refresh_from_db()
    assert patient_a.primary_subtype == "FPLD2"
    body = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert "c.1444C&gt;T" in body and "HP:0008887" in body and "outside a visit" in body
    obs = PhenotypeObservation.objects.get(patient=patient_a, hpo_id="HP:0008887")
    assert obs.visit is None and obs.observed_on == dt.date(2024, 1, 5) and not obs.excluded


@pytest.mark.parametrize("name", list(GOOD))
def test_bad_input_inline_and_nothing_written(client, clinician_a, patient_a, name):
    client.force_login(clinician_a)
    before = written()
    data, fields = BAD[name]
    resp = client.post(reverse(name, args=[patient_a.public_id]), data)
    assert resp.status_code == 200 and written() == before
    for field in fields:
        assert resp.context["form"].errors.get(field), field
        assert f'aria-describedby="id_{field}_errors' in resp.content.decode()
    assert "Nothing was saved" in resp.content.decode()


@pytest.mark.parametrize("name", [*GOOD, "patient-consent"])
def test_other_site_and_researcher_get_404_anonymous_goes_to_login(client, clinician_b, researcher_a, patient_a, name):
    url = reverse(name, args=[patient_a.public_id])
    before = written()
    resp = client.get(url)
    assert resp.status_code == 302 and reverse("login") in resp["Location"]
    for user in (clinician_b, researcher_a):
        client.force_login(user)
        assert client.get(url).status_code == 404
        data = GOOD.get(name, {"action": "new", "new-research_use": "yes", "new-version": "v9"})
        assert client.post(url, data).status_code == 404
    assert written() == before


def test_researcher_sees_no_add_links(client, researcher_a, patient_a):
    client.force_login(researcher_a)
    body = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert reverse("diagnosis-new", args=[patient_a.public_id]) not in body
    assert reverse("patient-consent", args=[patient_a.public_id]) not in body


# --- consent ----------------------------------------------------------------------------


def consent_url(p):
    return reverse("patient-consent", args=[p.public_id])


def test_new_consent_version_then_withdrawal(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    assert patient_a.research_consent is True
    resp = client.post(
        consent_url(patient_a),
        {"action": "new", "new-research_use": "yes", "new-version": "v3", "new-consented_on": "2024-02-01"},
    )
    assert resp.status_code == 302
    assert Consent.objects.filter(patient=patient_a, version="v3").exists()
    resp = client.post(consent_url(patient_a), {"action": "withdraw", "withdraw-withdrawn_on": "2024-03-01"})
    assert resp.status_code == 302
    patient_a.refresh_from_db()
    assert patient_a.research_consent is False
    newest = Consent.objects.filter(patient=patient_a).order_by("-consented_on", "-id").first()
    assert (newest.version, newest.withdrawn_on) == ("v3", dt.date(2024, 3, 1))
    body = client.get(consent_url(patient_a)).content.decode()
    assert "none</strong>: research use not allowed" in body and "Withdraw consent" not in body
    chart = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert "v3" in chart and "1 Mar 2024" in chart


@pytest.mark.parametrize(
    ("data", "form", "field"),
    [
        (
            {"action": "new", "new-research_use": "yes", "new-version": "", "new-consented_on": "2024-02-01"},
            "form",
            "version",
        ),
        (
            {"action": "new", "new-research_use": "yes", "new-version": "v3", "new-consented_on": "2999-01-01"},
            "form",
            "consented_on",
        ),
        (
            {"action": "new", "new-research_use": "yes", "new-version": "v3", "new-consented_on": "31/02/2024"},
            "form",
            "consented_on",
        ),
        ({"action": "withdraw", "withdraw-withdrawn_on": "2999-01-01"}, "withdraw", "withdrawn_on"),
        ({"action": "withdraw", "withdraw-withdrawn_on": "2000-01-01"}, "withdraw", "withdrawn_on"),
    ],
)
def test_bad_consent_inline_and_nothing_written(client, clinician_a, patient_a, data, form, field):
    client.force_login(clinician_a)
    before = written()
    resp = client.post(consent_url(patient_a), data)
    assert resp.status_code == 200 and written() == before
    assert resp.context[form].errors.get(field)
    assert "Nothing was saved" in resp.content.decode()


def test_withdraw_without_consent_in_force_is_refused(clinician_a, site_a):
    from tests.factories import make_patient

    p = make_patient(site=site_a, by=clinician_a, research_consent=None)
    with pytest.raises(ValidationError) as exc:
        services.consent_withdraw(patient=p, withdrawn_on=DAY, by=clinician_a)
    assert "withdrawn_on" in exc.value.message_dict


# --- phenotype service ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hpo_id", "observed_on", "field"),
    [("HP:9999999", DAY, "hpo_id"), ("", DAY, "hpo_id"), ("HP:0008887", None, "observed_on")],
)
def test_phenotype_record_refuses_unknown_terms_and_missing_dates(clinician_a, patient_a, hpo_id, observed_on, field):
    with pytest.raises(ValidationError) as exc:
        services.phenotype_record(patient=patient_a, hpo_id=hpo_id, observed_on=observed_on, by=clinician_a)
    assert field in exc.value.message_dict
    assert not PhenotypeObservation.objects.exists()


def test_phenotype_record_excluded_finding(clinician_a, patient_a):
    obs = services.phenotype_record(
        patient=patient_a, hpo_id="hp:0008887", observed_on=DAY, excluded=True, by=clinician_a
    )
    assert obs.hpo_id == "HP:0008887" and obs.excluded and obs.label
