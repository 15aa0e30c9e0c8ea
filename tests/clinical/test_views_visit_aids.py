"""Visit and dose form aids: the one-click lipodystrophy panel, height prefilled from the
last visit with a confirmation for an adult height far from it, the current dose shown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from clinical import catalogue
from clinical.models import Visit
from clinical.visit_checks import height_needs_confirmation
from tests.clinical.test_views_visits import form_data, url
from tests.factories import make_course, make_visit

pytestmark = pytest.mark.django_db
LAST = (dt.date(2024, 1, 5), Decimal("165.0"))


@pytest.mark.parametrize(
    ("height", "birth_year", "asks"),
    [("170", 1990, False), ("170.1", 1990, True), ("159.9", 1990, True), ("175", 2012, False)],
)
def test_height_check_rule(height, birth_year, asks):
    msg = height_needs_confirmation(
        height_cm=Decimal(height), last=LAST, birth_year=birth_year, visit_date=dt.date(2024, 3, 1)
    )
    assert bool(msg) is asks
    if asks:
        assert "165 cm (5 Jan 2024)" in msg


def test_height_prefilled_and_far_height_needs_confirmation(client, clinician_a, patient_a):
    make_visit(patient_a, visit_date=dt.date(2024, 1, 5), height_cm="165", by=clinician_a)
    client.force_login(clinician_a)
    page = client.get(url(patient_a))
    assert page.context["form"].initial["height_cm"] == "165"
    assert f'data-panel="{",".join(catalogue.LIPODYSTROPHY_PANEL)}"' in page.content.decode()
    resp = client.post(url(patient_a), form_data(height_cm="156"))
    assert resp.status_code == 200 and Visit.objects.count() == 1
    assert "differs by more than 5 cm" in resp.content.decode() and 'name="confirm_height"' in resp.content.decode()
    resp = client.post(url(patient_a), form_data(height_cm="156", confirm_height="1"))
    assert resp.status_code == 302 and Visit.objects.count() == 2


def test_dose_form_shows_the_current_dose(client, clinician_a, patient_a):
    course = make_course(patient_a, start_date=dt.date(2024, 1, 6), dose="5", by=clinician_a)
    client.force_login(clinician_a)
    body = client.get(reverse("dose-new", args=[course.public_id])).content.decode()
    assert "Current dose: <strong>5 mg/day</strong> since 6 Jan 2024" in body
