"""A clinic morning in a real browser: the printable summary on one A4 page without
navigation, the lab import template and preview, the duplicate warning at registration,
and an axe-core accessibility check over the main pages (no serious or critical issue)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from clinical.evaluation import patient_evaluate
from clinical.models import LabResult
from registry.models import AuditEvent, Patient
from tests.factories import make_course, make_lab, make_patient, make_site, make_user, make_visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
# axe-core 4.10.2 (MPL-2.0), vendored from the npm registry: no network in the test run.
AXE = Path(__file__).parent / "assets" / "axe-core-4.10.2" / "axe.min.js"


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/patients/$"))


@pytest.fixture
def clinic(db):
    """One site, a clinician, and a patient with a year of care: visits, labs (one
    critical), metreleptin."""
    site = make_site("SITEA", "Hospital A", "FR")
    clin = make_user("clin_a", site=site, role="clinician", first_name="Ada", last_name="Clinician")
    patient = make_patient(
        site=site, by=clin, family_name="Moreau", given_name="Lea", birth_date=dt.date(1980, 5, 17), subtype="CGL2"
    )
    today = timezone.localdate()
    start = today - dt.timedelta(days=200)
    make_visit(patient, visit_date=start, by=clin, weight_kg="60", height_cm="165")
    make_course(patient, start_date=start, dose="5", by=clin)
    for i, (tg, a1c) in enumerate([("900", "9.1"), ("1200", "8.4")]):
        day = start + dt.timedelta(days=90 * i)
        make_lab(patient, tg, collected_on=day, by=clin)
        make_lab(patient, a1c, analyte="hba1c", unit="%", collected_on=day, by=clin)
    patient_evaluate(patient_id=patient.pk)
    return {"site": site, "clin": clin, "patient": patient}


def new_page(browser, width: int = 1366, **ctx):
    context = browser.new_context(viewport={"width": width, "height": 900}, **ctx)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def test_printable_summary_is_one_a4_page_without_navigation(live_server, e2e_settings, browser, clinic):
    context, page = new_page(browser)
    sign_in(page, live_server.url, "clin_a")
    p = clinic["patient"]
    page.goto(f"{live_server.url}/patients/{p.public_id}/")
    page.get_by_role("link", name="Printable summary").click()
    page.wait_for_url(re.compile(r".*/summary/$"))
    text = page.locator("main").inner_text()
    for part in ("Moreau, Lea", "Congenital generalized lipodystrophy type 2", "Metreleptin", "5 mg/day"):
        assert part in text
    assert "Triglycerides" in text and "critical" in text  # latest labs with flags
    assert "Metreleptin response" in text and "Open alerts" in text
    assert "Severe hypertriglyceridaemia" in text
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert not page.get_by_role("button", name="Print").is_visible()
    assert not page.get_by_role("link", name="Back to the chart").is_visible()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one A4 page
    assert AuditEvent.objects.filter(patient=p, action="view", reason="summary").count() == 1
    context.close()


def test_import_template_matches_no_patient_and_preview_shows_who(live_server, e2e_settings, browser, clinic, tmp_path):
    context, page = new_page(browser)
    sign_in(page, live_server.url, "clin_a")
    page.get_by_role("link", name="Import labs").click()
    assert page.locator("table.analyte-codes").get_by_text("total_cholesterol").is_visible()
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download the template CSV").click()
    template = tmp_path / "template.csv"
    dl.value.save_as(template)
    page.set_input_files("#id_file", str(template))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r".*/imports/labs/[0-9a-f-]{36}/$"))
    assert "example row from the template" in page.locator("table.import-rows").inner_text()
    assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
    before = LabResult.objects.count()

    code = clinic["patient"].registry_code
    real = tmp_path / "real.csv"
    real.write_text(
        "registry_code,mrn,analyte,value,unit,collected_on,fasting\n"
        f"{code},,triglycerides,1200,mg/dL,{clinic['patient'].lab_results.first().collected_on},\n"
        f"{code},,hba1c,7.2,%,{timezone.localdate()},no\n"
    )
    page.goto(live_server.url + "/imports/labs/")
    page.set_input_files("#id_file", str(real))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r".*/imports/labs/[0-9a-f-]{36}/$"))
    rows = page.locator("table.import-rows tbody tr")
    assert "L. M. 1980" in rows.nth(0).inner_text() and "already recorded" in rows.nth(0).inner_text()
    with page.expect_navigation():
        page.get_by_label(re.compile("Skip rows identical")).check()
    assert "Skipped" in rows.nth(0).inner_text()
    page.get_by_role("button", name="Import 1 results").click()
    assert "1 identical to stored results skipped" in page.locator(".messages").inner_text()
    assert LabResult.objects.count() == before + 1
    context.close()


def test_duplicate_warning_at_registration(live_server, e2e_settings, browser, clinic):
    context, page = new_page(browser)
    sign_in(page, live_server.url, "clin_a")
    page.get_by_role("link", name="Register patient").click()
    page.get_by_label("Family name").fill("MOREAU")
    page.get_by_label("Given name").fill("Léa")
    page.get_by_label("Date of birth").fill("1981-05-17")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("MRN").fill("A-2002")
    page.get_by_role("button", name="Register patient").click()
    warning = page.locator(".duplicate-warning")
    assert "Possible duplicate" in warning.inner_text()
    known = clinic["patient"]
    link = warning.get_by_role("link", name=re.compile(known.registry_code))
    assert link.get_attribute("href") == f"/patients/{known.public_id}/"
    assert Patient.objects.count() == 1
    page.get_by_label(re.compile("This is a different person")).check()
    page.get_by_role("button", name="Register patient").click()
    page.wait_for_url(re.compile(r".*/patients/[0-9a-f-]{36}/$"))
    assert Patient.objects.count() == 2
    context.close()


MAIN_PAGES = (
    "/patients/",
    "/patients/{p}/",
    "/patients/{p}/summary/",
    "/patients/{p}/history/",
    "/patients/{p}/labs/",
    "/patients/{p}/visits/new/",
    "/alerts/",
    "/imports/labs/",
    "/patients/new/",
)


@pytest.mark.parametrize("width", [1366, 820])
def test_main_pages_have_no_serious_accessibility_violation(live_server, e2e_settings, browser, clinic, width):
    # bypass_csp: the page's CSP allows only our scripts; axe is injected for the check.
    context, page = new_page(browser, width=width, bypass_csp=True)
    sign_in(page, live_server.url, "clin_a")
    found = {}
    for path in MAIN_PAGES:
        page.goto(live_server.url + path.format(p=clinic["patient"].public_id))
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if serious:
            found[path] = serious
    assert found == {}
    context.close()


def test_worklist_groups_hides_historic_and_acknowledges_with_note_then_reopens(
    live_server, e2e_settings, browser, clinic
):
    p, clin = clinic["patient"], clinic["clin"]
    today = timezone.localdate()
    make_lab(p, "1300", collected_on=today - dt.timedelta(days=5), by=clin)  # joins the TG_SEVERE group
    make_lab(p, "1500", collected_on=dt.date(2018, 3, 1), by=clin)  # back-entered history: historic
    patient_evaluate(patient_id=p.pk)
    context, page = new_page(browser, width=820)
    sign_in(page, live_server.url, "clin_a")
    header = page.locator(".alerts-link").inner_text()
    assert "2 open" in header and "2 critical" in header  # historic ones left out
    page.locator(".alerts-link").click()
    rows = page.locator("tr.alert-row")
    assert rows.count() == 1
    row = rows.first
    assert "Severe hypertriglyceridaemia" in row.inner_text() and "2 alerts" in row.inner_text()
    assert "1300 mg/dL" in row.inner_text()  # the latest value first
    row.get_by_text("1 earlier").click()
    assert "1200 mg/dL" in row.locator("details.group-more").inner_text()
    page.get_by_label("Include historic").check()
    page.get_by_role("button", name="Filter").click()
    assert (
        page.locator(".badge.historic").count() >= 1 and "3 alerts" in page.locator("tr.alert-row").first.inner_text()
    )

    # A critical alert is not acknowledged without a note.
    page.goto(live_server.url + "/alerts/")
    cell = page.locator("tr.alert-row").first.locator("td").last  # the latest alert of the group
    note = cell.locator("input[name=note]")
    cell.get_by_role("button", name="Acknowledge").click()
    assert note.evaluate("el => el.validity.valueMissing") is True  # the browser stops it
    note.fill("Fibrate started; recheck in 4 weeks")
    cell.get_by_role("button", name="Acknowledge").click()
    assert "Alert acknowledged" in page.locator(".messages").inner_text()

    page.get_by_label("Status").select_option("acknowledged")
    page.get_by_role("button", name="Filter").click()
    acked = page.locator("tr.alert-row").first
    assert "Ada Clinician" in acked.inner_text() and "Fibrate started; recheck in 4 weeks" in acked.inner_text()
    acked.get_by_placeholder("Reason (required)").fill("TG still rising at recheck")
    acked.get_by_role("button", name="Reopen").click()
    assert "Alert reopened" in page.locator(".messages").inner_text()
    page.goto(live_server.url + "/alerts/")
    assert "2 alerts" in page.locator("tr.alert-row").first.inner_text()
    context.close()
