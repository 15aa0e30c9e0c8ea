"""The access layer: personas of two sites; another site's patient is a 404."""

from __future__ import annotations

import uuid

import pytest
from django.http import Http404

from registry import access
from tests.factories import make_course, make_lab, make_patient, make_visit

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

    lab = make_lab(patient=patient_a, value="250", collected_on=patient_a.created_at.date(), by=clinician_a)
    assert access.lab_for_user(clinician_a, lab.public_id) == lab
    with pytest.raises(Http404):
        access.lab_for_user(clinician_b, lab.public_id)
    assert not access.labs_for_user(clinician_b).exists()


# --- the permission matrix: persona x operation -----------------------------------------


def _records(patient, by):

    from clinical import services

    visit = make_visit(
        patient=patient, by=by, weight_kg="60", labs=[services.LabEntry("triglycerides", "900", "mg/dL")]
    )
    course = make_course(patient=patient, drug="metformin", dose="1000", by=by)
    return {"visit": visit, "lab": visit.lab_results.get(), "course": course}


FETCH = {
    "visit": access.visit_for_user,
    "lab": access.lab_for_user,
    "course": access.course_for_user,
}


@pytest.mark.parametrize(
    ("persona", "read", "write", "identity"),
    [
        ("clinician_a", True, True, True),
        ("lead_a", True, True, True),
        ("researcher_a", True, False, False),  # patient_a consents
        ("registry_admin", True, True, True),
        ("clinician_b", False, False, False),
    ],
)
def test_permission_matrix_on_site_a_records(request, persona, read, write, identity, patient_a, clinician_a):
    user = request.getfixturevalue(persona)
    records = _records(patient_a, clinician_a)
    assert access.patients_for_user(user).filter(pk=patient_a.pk).exists() is read
    assert access.patients_for_user(user, write=True).filter(pk=patient_a.pk).exists() is write
    assert access.can_write(user, patient_a) is write
    assert access.can_see_identity(user, patient_a) is identity
    for kind, obj in records.items():
        for as_write, allowed in ((False, read), (True, write)):
            if allowed:
                assert FETCH[kind](user, obj.public_id, write=as_write) == obj
            else:
                with pytest.raises(Http404):
                    FETCH[kind](user, obj.public_id, write=as_write)


def test_researcher_never_reaches_non_consenting_records(researcher_a, site_a, clinician_a):
    refused = make_patient(site=site_a, by=clinician_a, research_consent=False)
    records = _records(refused, clinician_a)
    with pytest.raises(Http404):
        access.patient_for_user(researcher_a, refused.public_id)
    for kind, obj in records.items():
        with pytest.raises(Http404):
            FETCH[kind](researcher_a, obj.public_id)


def test_mixed_roles_apply_per_site(site_a, site_b, clinician_a, patient_a, patient_b):
    from registry.models import Membership

    Membership.objects.create(user=clinician_a, site=site_b, role="researcher")
    access.forget_scope(clinician_a)
    assert set(access.patients_for_user(clinician_a)) == {patient_a, patient_b}
    assert access.can_see_identity(clinician_a, patient_a)
    assert not access.can_see_identity(clinician_a, patient_b)  # researcher at site B
    assert not access.can_write(clinician_a, patient_b)
    assert list(access.sites_for_user(clinician_a, write=True)) == [site_a]


def test_inactive_and_anonymous_users_reach_nothing(clinician_a, patient_a):
    from django.contrib.auth.models import AnonymousUser

    assert not access.patients_for_user(AnonymousUser()).exists()
    clinician_a.is_active = False
    access.forget_scope(clinician_a)
    assert not access.patients_for_user(clinician_a).exists()
    assert not access.sites_for_user(clinician_a).exists()


def test_scoped_list_query_count(clinician_a, site_a, django_assert_num_queries):
    for _ in range(3):
        make_patient(site=site_a, by=clinician_a)
    access.forget_scope(clinician_a)
    # memberships (the scope, cached on the user afterwards), then the patients
    with django_assert_num_queries(2):
        assert len(list(access.patients_for_user(clinician_a))) == 3
    with django_assert_num_queries(1):
        assert len(list(access.patients_for_user(clinician_a))) == 3
