"""The access layer: personas of two sites; another site's patient is a 404."""

from __future__ import annotations

import uuid

import pytest
from django.http import Http404

from registry import access
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


def test_clinician_reads_only_own_site(clinician_a, patient_a, patient_b):
    assert list(access.patients_for_user(clinician_a)) == [patient_a]
    assert access.patient_for_user(clinician_a, patient_a.public_id) == patient_a
    with pytest.raises(Http404):
        access.patient_for_user(clinician_a, patient_b.public_id)


def test_unknown_and_malformed_ids_are_404(clinician_a, patient_a):
    for bad in (uuid.uuid4(), "not-a-uuid", None):
        with pytest.raises(Http404):
            access.patient_for_user(clinician_a, bad)


def test_researcher_sees_consenting_patients_without_identity_and_cannot_write(researcher_a, site_a, clinician_a):
    consenting = make_patient(site=site_a, by=clinician_a, research_consent=True)
    make_patient(site=site_a, by=clinician_a, research_consent=False)
    assert list(access.patients_for_user(researcher_a)) == [consenting]
    assert not access.can_see_identity(researcher_a, consenting)
    assert not access.can_write(researcher_a, consenting)
    assert list(access.patients_for_user(researcher_a, write=True)) == []


def test_registry_admin_reads_every_site(registry_admin, patient_a, patient_b):
    assert set(access.patients_for_user(registry_admin)) == {patient_a, patient_b}
    assert access.can_see_identity(registry_admin, patient_b)


def test_removed_membership_takes_effect_on_next_scope(clinician_a, patient_a):
    assert access.patient_for_user(clinician_a, patient_a.public_id)
    clinician_a.memberships.all().delete()
    access.forget_scope(clinician_a)
    with pytest.raises(Http404):
        access.patient_for_user(clinician_a, patient_a.public_id)


def test_records_under_patients_are_scoped(clinician_a, clinician_b, patient_a):
    from clinical import services

    lab = services.lab_result_record(
        patient=patient_a,
        analyte="triglycerides",
        value="250",
        unit="mg/dL",
        collected_on=patient_a.created_at.date(),
        by=clinician_a,
    )
    assert access.lab_for_user(clinician_a, lab.public_id) == lab
    with pytest.raises(Http404):
        access.lab_for_user(clinician_b, lab.public_id)
    assert not access.labs_for_user(clinician_b).exists()
