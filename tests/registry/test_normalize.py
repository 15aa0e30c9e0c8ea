"""Identifier and name hygiene (registry.normalize, SECURITY.md item 32): the pure rules,
then the same rules through the service, the API, the web form, the lab import, the
database constraint and the migration that reports existing collisions."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinical import imports
from registry import normalize
from registry.models import Patient, PatientIdentity
from tests.factories import make_patient
from tests.registry.test_api import api_for

ZWSP, BEL, RLO, SHY, NBSP = "\u200b", "\x07", "\u202e", "\u00ad", "\u00a0"


# --- pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        (" DEMO00001 ", "DEMO00001"),
        ("\tDEMO00001\n".strip("\t\n"), "DEMO00001"),
        ("ＤＥＭＯ００００１", "DEMO00001"),  # full-width forms
        (f"{NBSP}A-12{NBSP}", "A-12"),  # NFKC turns a no-break space into a space, then stripped
        ("ﬁsher", "fisher"),  # ligature
        ("Müller", "Müller"),
        ("Zoë", "Zoe\u0308".replace("e\u0308", "ë")),
    ],
)
def test_clean_text_normalises(typed, clean):
    assert normalize.clean_text(typed, label="MRN") == clean


@pytest.mark.parametrize(
    "bad", [f"DEMO00001{ZWSP}", f"Ann{BEL}", f"A{RLO}B", f"Jo{SHY}hn", "\ufeffX", "A\u2028B", "\x00"]
)
def test_invisible_and_control_characters_are_refused_with_a_clear_message(bad):
    with pytest.raises(ValidationError) as err:
        normalize.clean_text(bad, label="MRN")
    message = err.value.messages[0]
    assert message.startswith("The MRN contains an invisible or control character (U+")
    assert "type it again without it" in message


def test_mrn_key_is_case_folded_and_normalised():
    assert normalize.mrn_key(" demo00001") == normalize.mrn_key("DEMO00001") == normalize.mrn_key("ＤＥＭＯ００００１")
    assert normalize.mrn_key("Straße-1") == normalize.mrn_key("STRASSE-1")
    assert normalize.mrn_key("DEMO00001") != normalize.mrn_key("DEMO00002")


def test_collisions_are_grouped_per_site_and_described():
    rows = [
        ("S1", "LD-1", "DEMO00001"),
        ("S1", "LD-2", f"demo00001{ZWSP}"),
        ("S2", "LD-3", "DEMO00001"),  # another site: not a collision
        ("S1", "LD-4", ZWSP),  # nothing left
        ("S1", "LD-5", "OTHER"),
    ]
    collisions = normalize.mrn_collisions(rows)
    assert collisions == [
        ("S1", "", [("LD-4", ZWSP)]),
        ("S1", "demo00001", [("LD-1", "DEMO00001"), ("LD-2", f"demo00001{ZWSP}")]),
    ]
    text = normalize.describe_collisions(collisions)
    assert "site S1: LD-1 (MRN 'DEMO00001'), LD-2 (MRN 'demo00001\\u200b') are the same MRN 'demo00001'" in text
    assert "LD-4" in text and "no MRN left" in text


# --- the service, the database --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("variant", [f"MRN-7{ZWSP}", " mrn-7", "mrn-7", "ＭＲＮ-７"])
def test_a_second_patient_with_the_same_mrn_in_another_spelling_is_refused(site_a, clinician_a, variant):
    make_patient(site=site_a, by=clinician_a, mrn="MRN-7")
    before = Patient.objects.count()
    with pytest.raises(ValidationError) as err:
        make_patient(site=site_a, by=clinician_a, mrn=variant)
    assert "mrn" in err.value.message_dict
    assert Patient.objects.count() == before


@pytest.mark.django_db
def test_the_same_mrn_at_another_site_is_allowed(site_a, site_b, clinician_a, clinician_b):
    make_patient(site=site_a, by=clinician_a, mrn="MRN-8")
    assert make_patient(site=site_b, by=clinician_b, mrn="mrn-8").identity.mrn == "mrn-8"


@pytest.mark.django_db
def test_names_and_mrn_are_stored_normalised_and_control_characters_refused(site_a, clinician_a):
    patient = make_patient(site=site_a, by=clinician_a, mrn=" ＡＢ-1 ", family_name=" Dupont ", given_name="ﬁona")
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.mrn, identity.family_name, identity.given_name) == ("AB-1", "Dupont", "fiona")
    assert identity.mrn_key == "ab-1"
    with pytest.raises(ValidationError) as err:
        make_patient(site=site_a, by=clinician_a, family_name=f"Ann{BEL}", given_name=f"B{ZWSP}")
    assert set(err.value.message_dict) == {"family_name", "given_name"}
    assert "U+0007" in err.value.message_dict["family_name"][0]


@pytest.mark.django_db
def test_the_database_refuses_a_second_spelling_whatever_the_write_path(site_a, clinician_a):
    first = make_patient(site=site_a, by=clinician_a, mrn="DB-1")
    second = make_patient(site=site_a, by=clinician_a, mrn="DB-2")
    identity = PatientIdentity.objects.get(patient=second)
    identity.mrn = "db-1"  # an ORM write that skips the service: the key is computed anyway
    with pytest.raises(IntegrityError), transaction.atomic():
        identity.save()
    extra = Patient.objects.create(registry_code="LD-X1", home_site=site_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientIdentity.objects.bulk_create(
            [
                PatientIdentity(
                    patient=extra,
                    site=site_a,
                    family_name="X",
                    given_name="Y",
                    birth_date=dt.date(1990, 1, 1),
                    mrn="Db-1",
                )
            ]
        )
    assert PatientIdentity.objects.get(patient=first).mrn == "DB-1"


# --- the API and the form ----------------------------------------------------------------------


NEW = {
    "site": "SITEA",
    "sex": "female",
    "birth_date": "1990-01-01",
    "family_name": "Garcia",
    "given_name": "Ana",
    "mrn": "API-1",
}


@pytest.mark.django_db
def test_api_refuses_duplicates_through_invisible_characters_and_case(clinician_a):
    api = api_for(clinician_a)
    assert api.post("/api/v1/patients/", NEW, format="json").status_code == 201
    for variant in (f"API-1{ZWSP}", " api-1", "ＡＰＩ-1"):
        response = api.post("/api/v1/patients/", {**NEW, "mrn": variant}, format="json")
        assert response.status_code == 400, variant
        assert "mrn" in response.json()["errors"], response.json()
    bell = api.post("/api/v1/patients/", {**NEW, "mrn": "\u0012Z9", "family_name": f"Bell{BEL}"}, format="json")
    assert bell.status_code == 400
    assert set(bell.json()["errors"]) == {"mrn", "family_name"}
    assert "invisible or control character (U+0012" in bell.json()["errors"]["mrn"][0]
    assert PatientIdentity.objects.count() == 1


@pytest.mark.django_db
def test_api_patch_normalises_and_keeps_uniqueness(clinician_a, site_a):
    api = api_for(clinician_a)
    make_patient(site=site_a, by=clinician_a, mrn="TAKEN-1")
    created = api.post("/api/v1/patients/", NEW, format="json")
    url = f"/api/v1/patients/{created.json()['id']}/"
    taken = api.patch(url, {"mrn": "taken-1", "change_reason": "typo"}, format="json", HTTP_IF_MATCH=created["ETag"])
    assert taken.status_code == 400 and "already registered" in taken.json()["errors"]["mrn"][0]
    ok = api.patch(url, {"mrn": " api-1b ", "change_reason": "typo"}, format="json", HTTP_IF_MATCH=created["ETag"])
    assert ok.status_code == 200 and ok.json()["mrn"] == "api-1b"


@pytest.mark.django_db
def test_register_form_shows_the_field_error(client, clinician_a, site_a):
    client.force_login(clinician_a)
    make_patient(site=site_a, by=clinician_a, mrn="FORM-1")
    before = Patient.objects.count()
    data = {
        "family_name": f"Ann{BEL}",
        "given_name": "Lea",
        "birth_date": "1992-04-03",
        "sex": "female",
        "diagnosis_basis": "clinical",
        "genetics-TOTAL_FORMS": "0",
        "genetics-INITIAL_FORMS": "0",
    }
    response = client.post("/patients/new/", {**data, "site": "SITEA", "mrn": f"FORM-1{ZWSP}"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "invisible or control character (U+200B" in form.errors["mrn"][0]
    assert "invisible or control character (U+0007" in form.errors["family_name"][0]
    response = client.post("/patients/new/", {**data, "family_name": "Ann", "site": "SITEA", "mrn": " form-1 "})
    assert "already registered" in response.context["form"].errors["mrn"][0]
    assert Patient.objects.count() == before


# --- the lab import -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_matches_mrns_on_the_normalised_key_and_refuses_invisible_characters(site_a, clinician_a):
    patient = make_patient(site=site_a, by=clinician_a, mrn="IMP-1")
    header = "mrn,analyte,value,unit,collected_on\r\n"
    ok = imports.lab_import_preview(
        user=clinician_a,
        content=(header + " imp-1 ,triglycerides,5.2,mmol/L,2024-03-01\r\n").encode(),
        today=dt.date(2025, 1, 1),
    )
    assert ok.ok and ok.labs[0].patient_id == patient.pk
    bad = imports.lab_import_preview(
        user=clinician_a,
        content=(header + f"IMP-1{ZWSP},triglycerides,5.2,mmol/L,2024-03-01\r\n").encode(),
        today=dt.date(2025, 1, 1),
    )
    assert not bad.ok
    assert any("The MRN contains an invisible or control character (U+200B" in e for e in bad.rows[0].errors)


# --- the migration ---------------------------------------------------------------------------------


def _migration():
    return importlib.import_module("registry.migrations.0004_normalise_identities")


@pytest.mark.django_db
def test_migration_normalises_existing_rows(site_a, clinician_a):
    patient = make_patient(site=site_a, by=clinician_a, mrn="OLD-1")
    # A row as an older version stored it: invisible characters and spaces kept as typed.
    PatientIdentity.objects.filter(patient=patient).update(
        mrn=f" OLD-1{ZWSP}", mrn_key="legacy", family_name=f"Bell{BEL} "
    )
    _migration().normalise_identities(django_apps, None)
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.mrn, identity.mrn_key, identity.family_name) == ("OLD-1", "old-1", "Bell")


@pytest.mark.django_db
def test_migration_stops_and_lists_existing_collisions(site_a, clinician_a):
    first = make_patient(site=site_a, by=clinician_a, mrn="DUP-1")
    second = make_patient(site=site_a, by=clinician_a, mrn="DUP-2")
    PatientIdentity.objects.filter(patient=second).update(mrn=f"dup-1{ZWSP}", mrn_key="legacy-2")
    with pytest.raises(RuntimeError) as err:
        _migration().normalise_identities(django_apps, None)
    text = str(err.value)
    assert "these patients share an MRN" in text
    assert f"{first.registry_code} (MRN 'DUP-1'), {second.registry_code} (MRN 'dup-1\\u200b')" in text
    assert "SITEA" in text
    # nothing was changed
    assert PatientIdentity.objects.get(patient=second).mrn == f"dup-1{ZWSP}"
