"""Possible duplicate patients at registration: the pure rules, the warning with links at
sites the user can see, and the audited confirmation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from registry.duplicates import Person, normalise_name, why_duplicate
from registry.models import AuditEvent, Patient
from tests.factories import make_patient, make_site, make_user
from tests.registry.test_views_register_profile import reg_data

BORN = dt.date(1990, 5, 17)


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        (Person("Müller", "Anna", "female", BORN), "same family name and date of birth"),
        (Person("MUL-LER", "Zoe", "male", BORN), "same family name and date of birth"),
        (Person("Muller", "Anna", "female", dt.date(1991, 5, 17)), "same names and sex, born within a year"),
        (Person("Muller", "Anna", "female", dt.date(1989, 5, 17)), "same names and sex, born within a year"),
        (Person("Muller", "Anna", "male", dt.date(1991, 5, 17)), ""),  # other sex, other date
        (Person("Muller", "Anna", "female", dt.date(1991, 6, 18)), ""),  # more than a year apart
        (Person("Miller", "Anna", "female", BORN), ""),
    ],
)
def test_rules(known, expected):
    assert why_duplicate(Person("Muller", "Anna", "female", BORN), known) == expected


def test_normalise_name():
    assert normalise_name(" O'Brien-Núñez ") == normalise_name("obriennunez") == "obriennunez"


def form_data(site, **over):
    return reg_data(**{"site": site.code, "birth_date": "1990-05-17", "mrn": "NEW-1", **over})


@pytest.mark.django_db
def test_warning_with_links_then_audited_confirmation(client, clinician_a, site_a):
    known = make_patient(site=site_a, by=clinician_a, family_name="Moreau", given_name="Léa", birth_date=BORN)
    client.force_login(clinician_a)
    resp = client.post(reverse("patient-register"), form_data(site_a))
    assert resp.status_code == 200 and Patient.objects.count() == 1
    body = resp.content.decode()
    assert "Possible duplicate" in body and reverse("patient-chart", args=[known.public_id]) in body
    resp = client.post(reverse("patient-register"), form_data(site_a, confirm_not_duplicate="1"))
    assert resp.status_code == 302 and Patient.objects.count() == 2
    new = Patient.objects.exclude(pk=known.pk).get()
    event = AuditEvent.objects.get(patient=new, model="registry.Patient", action="create")
    assert known.registry_code in event.reason and "not" in event.reason


@pytest.mark.django_db
def test_only_sites_the_user_can_see_and_every_site_for_admins(client, clinician_a, site_a):
    site_x = make_site("SITEX")
    author = make_user("clin_x", site=site_x)
    make_patient(site=site_x, by=author, family_name="Moreau", given_name="Lea", birth_date=BORN)
    client.force_login(clinician_a)
    resp = client.post(reverse("patient-register"), form_data(site_a))
    assert resp.status_code == 302  # another site's patient is not revealed
    admin = make_user("radmin", site=site_a, role="registry_admin")
    client.force_login(admin)
    resp = client.post(reverse("patient-register"), form_data(site_a, mrn="NEW-2"))
    assert resp.status_code == 200 and "Possible duplicate" in resp.content.decode()
