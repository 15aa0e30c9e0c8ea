"""A clinician at site A who is a researcher at site B: sorting by name or searching by
name never sees B's hidden names (the order is asserted, not only the status)."""

from __future__ import annotations

import pytest

from registry.models import Membership
from tests.factories import make_patient, make_user

pytestmark = pytest.mark.django_db
URL = "/patients/"


@pytest.fixture
def mixed(site_a, site_b):
    user = make_user("mixed", site=site_a, role="clinician")
    Membership.objects.create(user=user, site=site_b, role="researcher")
    return user


def test_name_sort_orders_hidden_patients_by_code_only(client, mixed, site_a, site_b, clinician_a, clinician_b):
    a = [make_patient(site=site_a, by=clinician_a, family_name=n) for n in ("Moreau", "Bernard")]
    # B's names in the reverse order of their registry codes: a sort by name would show it
    b = [
        make_patient(site=site_b, by=clinician_b, family_name=n, research_consent=True)
        for n in ("Zimmer", "Adler", "Kaiser")
    ]
    client.force_login(mixed)
    for sort, a_order in (("name", ["Bernard", "Moreau"]), ("-name", ["Moreau", "Bernard"])):
        rows = client.get(URL, {"sort": sort}).context["rows"]
        codes = [r.patient.registry_code for r in rows]
        by_name = {p.identity.family_name: p.registry_code for p in a}
        # hidden patients come last, in registry code order (the sort's tie-breaker)
        hidden = sorted((p.registry_code for p in b), reverse=sort.startswith("-"))
        assert codes == [by_name[n] for n in a_order] + hidden, sort


def test_name_search_finds_nothing_at_the_research_site(client, mixed, site_b, clinician_b):
    hidden = make_patient(site=site_b, by=clinician_b, family_name="Zabaleta", research_consent=True)
    client.force_login(mixed)
    rows = client.get(URL, {"q": "Zabaleta", "sort": "name"}).context["rows"]
    assert hidden.registry_code not in [r.patient.registry_code for r in rows]
