"""The clinician's day in a real browser: sign in, register a patient, log a visit with a
lab panel in mixed units, read the chart in the preferred units with flags, start
metreleptin at the suggested dose; a clinician of another site gets 404 on that chart."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from clinical.models import LabResult, TreatmentCourse
from registry.models import Patient
from tests.factories import make_site, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/patients/$"))


def test_clinician_flow(live_server, e2e_settings, browser):
    site_a = make_site("SITEA", "Hospital A", "FR")
    site_b = make_site("SITEB", "Hospital B", "DE")
    make_user("clin_a", site=site_a, role="clinician", first_name="Ada", last_name="Clinician")
    make_user("clin_b", site=site_b, role="clinician")
    base = live_server.url
    today = timezone.localdate().isoformat()

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, base, "clin_a")
    assert page.locator(".user-name").inner_text() == "Ada Clinician"
    assert "SITEA" in page.locator(".user-sites").inner_text()

    # Register a patient.
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("Family name").fill("Moreau")
    page.get_by_label("Given name").fill("Lea")
    page.get_by_label("Date of birth").fill("1990-05-17")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("MRN").fill("A-1001")
    page.get_by_label("Diagnosis subtype").select_option("FPLD2")
    page.locator("#id_genetics-0-gene").fill("LMNA")
    page.locator("#id_genetics-0-hgvs_c").fill("c.1444C>T")
    page.locator("#id_genetics-0-hgvs_p").fill("p.(Arg482Trp)")
    page.get_by_label("Research consent").select_option("yes")
    page.get_by_label("Consent form version").fill("v1")
    page.get_by_label("Consent date").fill("2020-01-01")
    page.get_by_role("button", name="Register patient").click()
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]{36}/$"))
    chart_url = page.url
    patient = Patient.objects.get()
    assert patient.registry_code in page.locator("h1").inner_text()
    assert "Moreau, Lea" in page.locator("h1").inner_text()
    assert "OMIM:151660" in page.content()

    # Log a visit with a lab panel in mixed units; first with a typo, shown inline.
    page.get_by_role("link", name="Log a visit").click()
    page.get_by_label("Weight (kg)").fill("60")
    page.get_by_label("Height (cm)").fill("165")
    assert page.locator("#bmi").inner_text().startswith("22.0")
    page.locator("#id_labs-0-analyte").select_option("triglycerides")
    assert page.locator("#id_labs-0-unit").input_value() == "mg/dL"  # preferred unit preselected
    page.locator("#id_labs-0-value").fill("12000000")
    page.locator("#id_labs-1-analyte").select_option("hba1c")
    page.locator("#id_labs-1-unit").select_option("mmol/mol")
    page.locator("#id_labs-1-value").fill("64")
    page.get_by_role("button", name="Save visit").click()
    summary = page.get_by_role("alert")
    assert "Nothing was saved" in summary.first.inner_text()
    error = page.locator("#id_labs-0-value_errors")
    assert "implausible" in error.inner_text()
    assert page.locator("#id_labs-0-value").get_attribute("aria-describedby") == "id_labs-0-value_errors"
    assert page.locator("#id_labs-1-value").input_value() == "64"  # typed values kept
    assert LabResult.objects.count() == 0
    page.locator("#id_labs-0-value").fill("1200")
    page.get_by_role("button", name="Save visit").click()
    page.wait_for_url(chart_url)
    assert LabResult.objects.count() == 2

    # The chart shows both values in conventional units, flags as text.
    latest = page.locator("table.latest")
    tg = latest.locator("tr", has_text="Triglycerides")
    a1c = latest.locator("tr", has_text="HbA1c")
    assert "1200 mg/dL" in tg.inner_text() and "critical" in tg.inner_text()
    assert "8.0 %" in a1c.inner_text() and "H" in a1c.locator(".flag").inner_text()
    # Switch to SI from the header: the same results in mmol/L and mmol/mol.
    with page.expect_navigation():
        page.locator("#hdr-units").select_option("si")
    assert page.url == chart_url
    assert "13.55 mmol/L" in latest.locator("tr", has_text="Triglycerides").inner_text()
    assert "64 mmol/mol" in latest.locator("tr", has_text="HbA1c").inner_text()

    # Start metreleptin at the suggested dose (female, 60 kg: 5 mg = 1 mL = 0.083 mg/kg/day).
    page.get_by_role("link", name="Start metreleptin").click()
    suggestion = page.locator("#suggestion").inner_text()
    assert "5 mg" in suggestion and "1 mL" in suggestion and "0.083 mg/kg/day" in suggestion
    page.get_by_role("button", name="Use suggested dose").click()
    assert page.get_by_label("Daily dose").input_value() == "5"
    assert page.get_by_label("Start date").input_value() == today
    page.get_by_role("button", name="Start treatment").click()
    page.wait_for_url(chart_url)
    course = page.locator("article.course", has_text="Metreleptin")
    assert "5 mg/day" in course.inner_text() and "0.083" in course.inner_text()
    assert TreatmentCourse.objects.get().doses.get().dose == 5
    ctx.close()

    # A clinician of another site gets 404 on that chart.
    other = browser.new_context()
    page_b = other.new_page()
    sign_in(page_b, base, "clin_b")
    resp = page_b.goto(chart_url)
    assert resp is not None and resp.status == 404
    assert "Moreau" not in page_b.content()
    other.close()
