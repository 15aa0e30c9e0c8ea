"""The Django admin, per persona: scoped by the access layer, identity for clinical roles
only, writes only for those who manage sites and members."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import Membership, User
from tests.factories import make_lab

pytestmark = pytest.mark.django_db


def staff(user):
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


@pytest.fixture
def lab_a(patient_a, clinician_a):
    return make_lab(patient=patient_a, value="700", by=clinician_a)


@pytest.fixture
def lab_b(patient_b, clinician_b):
    return make_lab(patient=patient_b, value="800", by=clinician_b)


def test_clinician_lists_only_own_site(client, clinician_a, patient_a, patient_b, lab_a, lab_b):
    client.force_login(staff(clinician_a))
    response = client.get(reverse("admin:registry_patient_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [patient_a]
    response = client.get(reverse("admin:clinical_labresult_changelist"))
    assert list(response.context["cl"].queryset) == [lab_a]


def test_another_sites_records_are_not_found(client, clinician_a, patient_b, lab_b):
    client.force_login(staff(clinician_a))
    for url in (
        reverse("admin:registry_patient_change", args=[patient_b.pk]),
        reverse("admin:clinical_labresult_change", args=[lab_b.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_identity_inline_for_clinical_roles_only(client, clinician_a, researcher_a, patient_a):
    client.force_login(staff(clinician_a))
    page = client.get(reverse("admin:registry_patient_change", args=[patient_a.pk])).content.decode()
    assert patient_a.identity.family_name in page and patient_a.identity.mrn in page

    # A researcher has no admin at all, staff flag or not (the login page, no record).
    client.force_login(staff(researcher_a))
    response = client.get(reverse("admin:registry_patient_change", args=[patient_a.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_patient_records_are_read_only_for_everyone(client, registry_admin, patient_a, lab_a):
    client.force_login(staff(registry_admin))
    response = client.get(reverse("admin:clinical_labresult_change", args=[lab_a.pk]))
    assert response.status_code == 200 and b'name="_save"' not in response.content
    response = client.post(reverse("admin:clinical_labresult_change", args=[lab_a.pk]), {"value": "1", "unit": "mg/dL"})
    assert response.status_code == 403
    lab_a.refresh_from_db()
    assert lab_a.value == 700
    assert client.get(reverse("admin:clinical_labresult_add")).status_code == 403
    assert (
        client.post(reverse("admin:registry_patient_delete", args=[patient_a.pk]), {"post": "yes"}).status_code == 403
    )


def test_user_and_membership_admin_by_role(client, clinician_a, lead_a, registry_admin, site_a, site_b, clinician_b):
    client.force_login(staff(clinician_a))
    assert client.get(reverse("admin:registry_user_changelist")).status_code == 403
    assert client.get(reverse("admin:registry_membership_changelist")).status_code == 403
    assert client.get(reverse("admin:registry_site_add")).status_code == 403

    client.force_login(staff(lead_a))
    users = client.get(reverse("admin:registry_user_changelist")).context["cl"].queryset
    assert clinician_a in users and clinician_b not in users
    memberships = client.get(reverse("admin:registry_membership_changelist")).context["cl"].queryset
    assert {m.site for m in memberships} == {site_a}
    # a site lead adds members to their own site, never registry-wide rights, never elsewhere
    newcomer = User.objects.create_user("newcomer", password="correct horse battery staple")
    add = reverse("admin:registry_membership_add")
    assert client.post(add, {"user": newcomer.pk, "site": site_b.pk, "role": "clinician"}).status_code == 200
    assert client.post(add, {"user": newcomer.pk, "site": site_a.pk, "role": "registry_admin"}).status_code == 200
    assert not Membership.objects.filter(user=newcomer).exists()
    assert client.post(add, {"user": newcomer.pk, "site": site_a.pk, "role": "clinician"}).status_code == 302
    assert Membership.objects.filter(user=newcomer, site=site_a, role="clinician").exists()
    other = Membership.objects.get(user=clinician_b)
    assert client.post(reverse("admin:registry_membership_delete", args=[other.pk]), {"post": "yes"}).status_code == 302
    assert Membership.objects.filter(pk=other.pk).exists()  # not found for the lead: nothing deleted

    client.force_login(staff(registry_admin))
    assert client.get(reverse("admin:registry_site_add")).status_code == 200
    page = client.get(reverse("admin:registry_user_change", args=[clinician_a.pk])).content.decode()
    assert 'name="is_superuser"' not in page  # only a superuser grants superuser


def test_admin_list_query_count_does_not_grow_with_rows(client, clinician_a, site_a, django_assert_num_queries):
    from tests.factories import make_patient

    for _ in range(5):
        make_patient(site=site_a, by=clinician_a)
    client.force_login(staff(clinician_a))
    # session, user, memberships (the scope), sites (site filter), count and total count,
    # user permissions and groups (admin chrome), the rows with home_site joined, a few
    # more admin chrome queries, session save: 12 for any number of rows
    with django_assert_num_queries(12):
        response = client.get(reverse("admin:registry_patient_changelist"))
    assert response.context["cl"].result_count == 5


@pytest.mark.django_db
def test_researcher_gets_no_admin_even_as_staff(client, site_a):
    from tests.factories import make_user

    researcher = make_user("staff_researcher", site=site_a, role="researcher", is_staff=True)
    client.force_login(researcher)
    resp = client.get("/admin/")
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    assert client.get("/admin/registry/patient/").status_code == 302
