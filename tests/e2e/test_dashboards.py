"""Both dashboards in a real browser under the production CSP (script-src 'self'): the
Plotly figures render with the expected traces, the unit toggle redraws without a request,
the data table opens, no console error and no failed request; screenshots at desktop and
tablet widths are kept under artifacts/e2e/ (or $ARTIFACTS_DIR)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from clinical import services
from clinical.evaluation import patient_evaluate
from tests.factories import make_patient, make_site, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "artifacts") / "e2e"
START = dt.date(2023, 1, 10)
WIDTHS = (1366, 820)


def seed(site, by, *, tg_after: str):
    p = make_patient(site=site, by=by)
    services.visit_record(patient=p, by=by, visit_date=START - dt.timedelta(days=5), weight_kg="50", height_cm="160")
    for day, tg, hba1c in (
        (START - dt.timedelta(days=5), "1000", "9.0"),
        (START + dt.timedelta(days=366), tg_after, "6.5"),
    ):
        services.lab_result_record(
            patient=p, analyte="triglycerides", value=tg, unit="mg/dL", collected_on=day, by=by, fasting=True
        )
        services.lab_result_record(patient=p, analyte="hba1c", value=hba1c, unit="%", collected_on=day, by=by)
    services.course_start(patient=p, drug="metreleptin", start_date=START, dose="5", dose_unit="mg/day", by=by)
    patient_evaluate(patient_id=p.pk)
    return p


class Watch:
    """Console errors, page errors and failed requests of one page."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/patients/$"))


def trace_names(page, plot_id: str) -> list[str]:
    return page.evaluate(f"document.getElementById('{plot_id}').data.map(t => t.name)")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_dashboards_in_chromium(live_server, e2e_settings, browser):
    site_a = make_site("SITEA", "Hospital A", "FR")
    site_b = make_site("SITEB", "Hospital B", "DE")
    clin = make_user("clin_a", site=site_a, role="clinician")
    make_user("res", site=site_b, role="researcher")
    strong = seed(site_a, clin, tg_after="400")
    seed(site_a, clin, tg_after="950")
    base = live_server.url

    for width in WIDTHS:
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        sign_in(page, base, "clin_a")
        page.get_by_role("link", name=f"Dashboard of {strong.registry_code}").click()
        page.wait_for_url(re.compile(r".*/dashboard/$"))
        page.wait_for_selector("#patient-plot .main-svg")
        names = trace_names(page, "patient-plot")
        for expected in (
            "Triglycerides",
            "HbA1c",
            "Metreleptin daily dose",
            "Critical alerts",
            "Triglycerides: baseline and months 3/6/12",
        ):
            assert expected in names
        assert page.evaluate("document.getElementById('patient-plot').layout.yaxis.type") == "log"
        assert page.locator("#patient-plot .rangeselector .button").count() == 3
        assert page.locator("#patient-plot .scatterlayer .trace").count() >= len(names) - 1
        assert page.locator(".response .badge").first.inner_text() == "Strong responder"
        shot(page, f"patient-conventional-{width}")

        # The unit toggle redraws from the data already on the page.
        requests: list[str] = []
        page.on("request", lambda r, seen=requests: seen.append(r.url))
        page.get_by_role("radio", name="SI").check()
        page.wait_for_function("document.getElementById('patient-plot').layout.meta.system === 'si'")
        tg = page.evaluate("document.getElementById('patient-plot').data.find(t => t.name === 'Triglycerides').y")
        assert 11.29 in tg and 1000 not in tg
        assert requests == []
        assert page.locator("[data-csv]").get_attribute("href").endswith("?units=si")
        assert page.locator("[data-units-only=si]").is_visible()
        assert "mmol/mol" in page.locator("[data-units-only=si]").inner_text()

        # The data table: the plotted values, accessible.
        page.get_by_role("button", name="Show data table").click()
        table = page.get_by_role("table", name=re.compile("Plotted values"))
        assert table.is_visible()
        assert "SI units" in table.locator("caption").inner_text()
        assert table.get_by_role("cell", name="11.29").count() >= 1
        assert page.get_by_role("button", name="Hide data table").get_attribute("aria-expanded") == "true"
        page.locator("#patient-plot .rangeselector .button").nth(0).click()  # 1 y
        shot(page, f"patient-si-table-{width}")

        # Cohort: every figure rendered; the HbA1c change follows the unit toggle.
        page.get_by_role("link", name="Cohort").click()
        page.wait_for_selector("#plot-alerts .main-svg")
        for plot in ("plot-counts", "plot-classes", "plot-waterfall", "plot-hba1c", "plot-alerts"):
            assert page.locator(f"#{plot} .main-svg").count() >= 1
        assert sum(1 for n in trace_names(page, "plot-waterfall")) >= 1
        assert "%" in page.evaluate("document.getElementById('plot-hba1c').layout.title.text")
        page.get_by_role("radio", name="SI").check()
        page.wait_for_function("document.getElementById('plot-hba1c').layout.title.text.includes('mmol/mol')")
        shot(page, f"cohort-clinician-{width}")
        assert watch.problems == []
        ctx.close()

    # Researcher: aggregates of every site's consenting patients, small cells suppressed.
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill("res")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.goto(base + "/cohort/")
    page.wait_for_selector("#plot-classes .main-svg")
    text = page.locator("main").inner_text()
    assert "N = <5" in text and strong.registry_code not in page.content()
    assert page.evaluate("document.getElementById('plot-waterfall').data[0].y.every(y => y === null)")
    shot(page, "cohort-researcher-1366")
    assert watch.problems == []
    ctx.close()
