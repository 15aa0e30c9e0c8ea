"""The dashboards with the database: the selectors, the pages and the CSV, scoping,
researcher suppression, query counts constant in results and in patients, the trends
API's ?units=, and plotly.js served from the installed package."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal as D

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from clinical import services
from clinical.evaluation import patient_evaluate
from clinical.models import Alert, LabResult, TreatmentCourse
from clinical.selectors.cohort import CohortFilters, cohort_data
from clinical.selectors.dashboard import patient_dashboard_series
from registry.models import AuditEvent
from tests.factories import make_patient, make_user

pytestmark = pytest.mark.django_db
START = dt.date(2023, 1, 10)


def dashboard(p):
    return reverse("patient-dashboard", args=[p.public_id])


def responder(patient, by, *, start=START, baseline=True, tg_after="400"):
    """Metreleptin from ``start``; TG 1000 -> ``tg_after`` mg/dL and HbA1c 9 -> 6.5 % at month 12."""
    services.visit_record(
        patient=patient, by=by, visit_date=start - dt.timedelta(days=5), weight_kg="50", height_cm="160"
    )
    if baseline:
        services.lab_result_record(
            patient=patient,
            analyte="triglycerides",
            value="1000",
            unit="mg/dL",
            collected_on=start - dt.timedelta(days=5),
            by=by,
            fasting=True,
        )
        services.lab_result_record(
            patient=patient, analyte="hba1c", value="9.0", unit="%", collected_on=start - dt.timedelta(days=5), by=by
        )
    month12 = start + dt.timedelta(days=366)
    if month12 <= timezone.localdate():
        services.lab_result_record(
            patient=patient,
            analyte="triglycerides",
            value=tg_after,
            unit="mg/dL",
            collected_on=month12,
            by=by,
            fasting=True,
        )
        services.lab_result_record(patient=patient, analyte="hba1c", value="6.5", unit="%", collected_on=month12, by=by)
    course = services.course_start(
        patient=patient, drug="metreleptin", start_date=start, dose="5", dose_unit="mg/day", by=by
    )
    patient_evaluate(patient_id=patient.pk)
    return course


def bulk_labs(patient, n: int) -> None:
    rows = []
    for i in range(n):
        day = dt.date(2015, 1, 1) + dt.timedelta(days=i)
        analyte = ("triglycerides", "hba1c", "glucose", "alt")[i % 4]
        value = {"triglycerides": D("2.5"), "hba1c": D("8.0"), "glucose": D("6.0"), "alt": D(40)}[analyte]
        rows.append(
            LabResult(
                patient=patient,
                analyte=analyte,
                value=value,
                unit={"hba1c": "%", "alt": "U/L"}.get(analyte, "mmol/L"),
                canonical_value=value,
                collected_on=day,
                fasting=True,
            )
        )
    LabResult.objects.bulk_create(rows)


# --- patient dashboard ----------------------------------------------------------------


def test_series_hides_withdrawn_alerts_and_renders_messages_in_both_systems(clinician_a, patient_a):
    responder(patient_a, clinician_a)
    alerts = list(Alert.objects.filter(patient=patient_a))
    assert alerts, "the TG of 1000 mg/dL raises TG_SEVERE"
    Alert.objects.filter(pk=alerts[0].pk).update(status="withdrawn")
    series = patient_dashboard_series(patient=patient_a)
    assert len(series.alerts) == len(alerts) - 1
    assert all(a.messages["conventional"] and a.messages["si"] for a in series.alerts)
    assert [c.drug for c in series.courses] == ["metreleptin"]
    assert series.courses[0].doses[0].per_kg == D("0.100")  # 5 mg at 50 kg
    assert series.weights[0].bmi == D("19.5")
    assert series.summaries[0].response_class == "strong_responder"
    assert series.uln == {"alt": D(33), "ast": D(32)}  # female defaults


def test_series_courses_keep_their_order_and_dose_history(clinician_a, patient_a):
    """Courses in start order, each with its doses by date (one query joins them); a
    course without a dose row has no steps."""
    met = responder(patient_a, clinician_a)  # metreleptin from 2023-01-10 at 5 mg/day
    services.dose_change_record(
        course=met, effective_date=dt.date(2023, 3, 1), dose="7.5", dose_unit="mg/day", by=clinician_a
    )
    services.dose_change_record(
        course=met, effective_date=dt.date(2023, 2, 1), dose="2.5", dose_unit="mg/day", by=clinician_a
    )
    services.course_start(
        patient=patient_a,
        drug="metformin",
        start_date=dt.date(2022, 5, 1),
        dose="500",
        dose_unit="mg/day",
        by=clinician_a,
    )
    TreatmentCourse.objects.create(patient=patient_a, drug="insulin", start_date=dt.date(2024, 1, 1), source="import")
    series = patient_dashboard_series(patient=patient_a)
    assert [(c.drug, c.start) for c in series.courses] == [
        ("metformin", dt.date(2022, 5, 1)),
        ("metreleptin", START),
        ("insulin", dt.date(2024, 1, 1)),
    ]
    assert [(d.on, d.dose) for d in series.courses[1].doses] == [
        (START, D("5")),
        (dt.date(2023, 2, 1), D("2.5")),
        (dt.date(2023, 3, 1), D("7.5")),
    ]
    assert [d.dose for d in series.courses[0].doses] == [D("500")]
    assert series.courses[2].doses == ()


def test_dashboard_page_embeds_both_unit_systems_and_is_audited(client, clinician_a, patient_a):
    responder(patient_a, clinician_a)
    client.force_login(clinician_a)
    resp = client.get(dashboard(patient_a))
    assert resp.status_code == 200
    html = resp.content.decode()
    match = re.search(r'<script id="patient-figures" type="application/json">(.*?)</script>', html, re.S)
    figures = json.loads(match.group(1))
    assert set(figures) == {"conventional", "si"}
    assert figures["si"]["layout"]["meta"] == {"system": "si"}
    assert 'src="/static/vendor/plotly.min.js"' in html and 'src="/static/js/dashboards.js"' in html
    assert "<script>" not in html  # no inline script: the CSP allows only our files
    assert "Strong responder" in html
    assert AuditEvent.objects.filter(patient=patient_a, action="view").exists()
    assert resp["Cache-Control"] == "no-store"
    assert "script-src 'self'" in resp["Content-Security-Policy"]


def test_dashboard_is_linked_from_chart_and_list(client, clinician_a, patient_a):
    client.force_login(clinician_a)
    assert dashboard(patient_a) in client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert dashboard(patient_a) in client.get(reverse("patient-list")).content.decode()


def test_dashboard_scoping(client, clinician_b, researcher_a, patient_a, site_a, clinician_a):
    client.force_login(clinician_b)
    assert client.get(dashboard(patient_a)).status_code == 404
    assert client.get(reverse("patient-dashboard-csv", args=[patient_a.public_id])).status_code == 404
    hidden = make_patient(site=site_a, by=clinician_a, research_consent=False)
    client.force_login(researcher_a)
    assert client.get(dashboard(hidden)).status_code == 404
    client.logout()
    assert client.get(dashboard(patient_a)).status_code == 302


def test_dashboard_query_count_is_constant_in_results(client, clinician_a, patient_a, django_assert_num_queries):
    responder(patient_a, clinician_a)
    client.force_login(clinician_a)
    client.get(dashboard(patient_a))
    # session, user, memberships, patient with its site (its time zone is "today"), labs,
    # weights, courses with their doses, alerts (withdrawn left out), view audit (chain
    # lock, head hash and id, insert), header: alert counts, sites; session save
    # (savepoint, update, release)
    with django_assert_num_queries(16):
        assert client.get(dashboard(patient_a)).status_code == 200
    bulk_labs(patient_a, 400)
    course = services.course_start(
        patient=patient_a,
        drug="metformin",
        start_date=dt.date(2016, 1, 1),
        dose="500",
        dose_unit="mg/day",
        by=clinician_a,
    )
    for month in (2, 3, 4):
        services.dose_change_record(
            course=course,
            effective_date=dt.date(2016, month, 1),
            dose=str(500 * month),
            dose_unit="mg/day",
            by=clinician_a,
        )
    with django_assert_num_queries(16):
        resp = client.get(dashboard(patient_a))
    assert resp.context["n_points"] >= 404


def test_csv_is_exactly_what_is_plotted(client, clinician_a, patient_a):
    responder(patient_a, clinician_a)
    client.force_login(clinician_a)
    url = reverse("patient-dashboard-csv", args=[patient_a.public_id])
    for units, tg_text, unit in (("conventional", "1000", "mg/dL"), ("si", "11.29", "mmol/L")):
        resp = client.get(url + f"?units={units}")
        assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
        assert f"-dashboard-{units}.csv" in resp["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
        tg = [r for r in rows if r["series"] == "Triglycerides"]
        assert [r["value"] for r in tg] == ([tg_text, "400"] if units == "conventional" else [tg_text, "4.52"])
        assert {r["unit"] for r in tg} == {unit}
        page = client.get(dashboard(patient_a)).content.decode()
        figures = json.loads(
            re.search(r'id="patient-figures" type="application/json">(.*?)</script>', page, re.S).group(1)
        )
        from clinical.charts import table_rows

        assert rows == table_rows(figures[units])
    assert AuditEvent.objects.filter(patient=patient_a, action="export").count() == 2


def test_csv_neutralises_formulas():
    from clinical.views.dashboards import _safe_cell

    assert _safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _safe_cell("-12") == "-12" and _safe_cell("+3 %") == "+3 %"
    assert _safe_cell("@x") == "'@x"


def test_chart_page_shows_response_summary_in_user_units(client, clinician_a, patient_a):
    responder(patient_a, clinician_a)
    clinician_a.unit_system = "si"
    clinician_a.save(update_fields=["unit_system"])
    client.force_login(clinician_a)
    html = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert "Metreleptin response" in html and "Strong responder" in html
    assert "11.29" in html and "mmol/mol" in html  # baseline TG and HbA1c unit in SI


def test_chart_says_no_baseline_and_provisional(client, clinician_a, patient_a, site_a):
    responder(patient_a, clinician_a, baseline=False)
    recent = make_patient(site=site_a, by=clinician_a)
    responder(recent, clinician_a, start=timezone.localdate() - dt.timedelta(days=100))
    client.force_login(clinician_a)
    html = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert "No baseline" in html and "no baseline" in html
    html = client.get(reverse("patient-chart", args=[recent.public_id])).content.decode()
    assert "Provisional" in html and "month-12 window open until" in html


# --- trends API ?units= ------------------------------------------------------------------


def test_trends_api_accepts_units(client, clinician_a, patient_a):
    responder(patient_a, clinician_a)
    client.force_login(clinician_a)
    url = f"/api/v1/patients/{patient_a.public_id}/trends/"
    plain = client.get(url).json()
    tg = next(a for a in plain["analytes"] if a["analyte"] == "triglycerides")
    assert "display_unit" not in tg and all("display_value" not in m for m in tg["months"])
    si = client.get(url + "?units=conventional").json()
    tg = next(a for a in si["analytes"] if a["analyte"] == "triglycerides")
    assert tg["display_unit"] == "mg/dL" and tg["display_baseline_value"] == "1000"
    m12 = next(m for m in tg["months"] if m["month"] == 12)
    assert m12["display_value"] == "400" and m12["display_change"] == "-600"
    h = next(a for a in client.get(url + "?units=si").json()["analytes"] if a["analyte"] == "hba1c")
    assert h["display_unit"] == "mmol/mol" and h["display_baseline_value"] == "75"
    assert client.get(url + "?units=imperial").status_code == 400


# --- cohort ----------------------------------------------------------------------------


def test_cohort_scope_clinician_own_sites_researcher_all_consenting(
    client, site_a, site_b, clinician_a, clinician_b, patient_a, patient_b
):
    hidden = make_patient(site=site_b, by=clinician_b, research_consent=False)
    today = timezone.localdate()
    assert cohort_data(user=clinician_a, filters=CohortFilters(), today=today).n_patients == 1
    researcher = make_user("res_x", site=site_a, role="researcher")
    data = cohort_data(user=researcher, filters=CohortFilters(), today=today)
    assert data.n_patients == 2  # both consenting patients of both sites, not ``hidden``
    assert ("SITEB", "CGL1") in data.site_subtype
    assert hidden.home_site_id == site_b.id


def test_cohort_filters_are_in_the_url(client, clinician_a, site_a):
    make_patient(site=site_a, by=clinician_a, sex="male", subtype="FPLD2", birth_date=dt.date(1950, 1, 1))
    make_patient(site=site_a, by=clinician_a, sex="female", subtype="CGL1", birth_date=dt.date(2015, 1, 1))
    client.force_login(clinician_a)
    resp = client.get(reverse("cohort-dashboard") + "?sex=male&age=60%2B&subtype=FPLD2&site=SITEA")
    assert resp.status_code == 200
    assert resp.context["data"].n_patients == 1
    assert resp.context["filters"] == CohortFilters(site="SITEA", subtype="FPLD2", sex="male", age="60+")
    html = resp.content.decode()
    assert '<option value="male" selected>' in html
    assert resp.client.get(reverse("cohort-dashboard") + "?age=0-17").context["data"].n_patients == 1
    assert resp.client.get(reverse("cohort-dashboard") + "?sex=bogus").context["filters"].sex == ""


def test_cohort_years_on_treatment_filter(clinician_a, patient_a, site_a):
    responder(patient_a, clinician_a)  # started 2023-01-10
    today = dt.date(2026, 6, 1)
    assert cohort_data(user=clinician_a, filters=CohortFilters(years="3-5"), today=today).n_patients == 1
    assert cohort_data(user=clinician_a, filters=CohortFilters(years="0-1"), today=today).n_patients == 0


def test_cohort_reads_responses_and_freshness(clinician_a, patient_a, site_a):
    responder(patient_a, clinician_a)
    data = cohort_data(user=clinician_a, filters=CohortFilters())
    assert len(data.responses) == 1
    r = data.responses[0]
    assert r.response_class == "strong_responder" and round(r.tg_percent_change) == -60
    assert data.computed_newest is not None and data.not_evaluated == 0
    assert any(v["critical"] for v in data.open_alerts.values())


def test_cohort_size_and_freshness_over_every_site_and_subtype(
    registry_admin, site_a, site_b, clinician_a, clinician_b
):
    from registry.models import Patient

    first = make_patient(site=site_a, by=clinician_a, subtype="CGL1")
    second = make_patient(site=site_a, by=clinician_a, subtype="FPLD2")
    third = make_patient(site=site_b, by=clinician_b, subtype="CGL1")
    never = make_patient(site=site_b, by=clinician_b, subtype="FPLD2")
    at = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    Patient.objects.filter(pk=first.pk).update(evaluated_at=at, needs_evaluation=False)
    Patient.objects.filter(pk=second.pk).update(evaluated_at=at - dt.timedelta(days=3), needs_evaluation=True)
    Patient.objects.filter(pk=third.pk).update(evaluated_at=at + dt.timedelta(hours=2), needs_evaluation=False)
    Patient.objects.filter(pk=never.pk).update(evaluated_at=None, needs_evaluation=False)
    data = cohort_data(user=registry_admin, filters=CohortFilters())
    assert data.n_patients == 4
    assert data.site_subtype == {
        ("SITEA", "CGL1"): 1,
        ("SITEA", "FPLD2"): 1,
        ("SITEB", "CGL1"): 1,
        ("SITEB", "FPLD2"): 1,
    }
    assert data.computed_oldest == at - dt.timedelta(days=3) and data.computed_newest == at + dt.timedelta(hours=2)
    assert data.not_evaluated == 2  # flagged for evaluation, or never evaluated
    empty = cohort_data(user=registry_admin, filters=CohortFilters(sex="other"))
    assert (empty.n_patients, empty.computed_oldest, empty.computed_newest, empty.not_evaluated) == (0, None, None, 0)


def test_cohort_page_researcher_sees_suppressed_aggregates_only(client, site_a, clinician_a, patient_a):
    responder(patient_a, clinician_a)
    researcher = make_user("res_y", site=site_a, role="researcher")
    client.force_login(researcher)
    resp = client.get(reverse("cohort-dashboard"))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert patient_a.registry_code not in html
    assert "N = &lt;5" in html and "&lt;5" in html
    waterfall = json.loads(re.search(r'id="fig-waterfall" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert all(y is None for y in waterfall["data"][0]["y"])  # one patient: no bar drawn
    client.force_login(clinician_a)
    html = client.get(reverse("cohort-dashboard")).content.decode()
    assert patient_a.registry_code in html  # clinicians see their own patients' bars


def test_cohort_query_count_is_constant_in_patients(client, clinician_a, patient_a, site_a, django_assert_num_queries):
    responder(patient_a, clinician_a)
    client.force_login(clinician_a)
    client.get(reverse("cohort-dashboard"))
    # session, user, memberships, patients by site x subtype with freshness, course
    # responses, alerts by opened and closed day, filter sites, header: alert counts,
    # sites; session save (savepoint, update, release)
    with django_assert_num_queries(12):
        assert client.get(reverse("cohort-dashboard")).status_code == 200
    for i in range(3):
        responder(make_patient(site=site_a, by=clinician_a), clinician_a, start=START + dt.timedelta(days=i))
    with django_assert_num_queries(12):
        resp = client.get(reverse("cohort-dashboard"))
    assert resp.context["data"].n_patients == 4


def test_cohort_requires_login(client):
    assert client.get(reverse("cohort-dashboard")).status_code == 302


# --- static files ----------------------------------------------------------------------


def test_plotly_js_comes_from_the_installed_package(tmp_path, settings):
    import plotly

    path = finders.find("vendor/plotly.min.js")
    assert path and path.startswith(str(__import__("pathlib").Path(plotly.__file__).parent))
    settings.STATIC_ROOT = tmp_path
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "vendor" / "plotly.min.js").stat().st_size > 1_000_000
    assert (tmp_path / "favicon.svg").exists()


def test_every_page_has_a_favicon(client, clinician_a):
    client.force_login(clinician_a)
    assert 'rel="icon" href="/static/favicon.svg"' in client.get(reverse("patient-list")).content.decode()


def test_open_alerts_by_month_counts_an_alert_until_it_is_closed(clinician_a, patient_a):
    from clinical.selectors.cohort import open_alerts_by_month
    from registry.models import Patient

    today = dt.date(2024, 6, 15)
    make = {"patient": patient_a, "severity": "warning", "severity_rank": 1, "message": "m", "params": {}}
    Alert.objects.create(rule="A", subject_key="a", observed_on=dt.date(2024, 1, 20), status="open", **make)
    acked = Alert.objects.create(
        rule="B", subject_key="b", observed_on=dt.date(2024, 2, 3), status="acknowledged", **make
    )
    Alert.objects.filter(pk=acked.pk).update(acknowledged_at=dt.datetime(2024, 4, 2, tzinfo=dt.UTC))
    Alert.objects.create(rule="C", subject_key="c", observed_on=dt.date(2024, 3, 1), status="withdrawn", **make)
    months = open_alerts_by_month(patients=Patient.objects.filter(pk=patient_a.pk), today=today)
    assert len(months) == 24 and max(months) == dt.date(2024, 6, 1)
    warning = {m: v["warning"] for m, v in months.items() if m.year == 2024}
    assert warning == {
        dt.date(2024, 1, 1): 1,
        dt.date(2024, 2, 1): 2,
        dt.date(2024, 3, 1): 2,  # the withdrawn one is never counted
        dt.date(2024, 4, 1): 1,  # acknowledged in April
        dt.date(2024, 5, 1): 1,
        dt.date(2024, 6, 1): 1,
    }


def test_open_alerts_by_month_before_the_window(clinician_a, patient_a):
    """An alert opened before the 24 months and still open counts in every month; one
    closed before them in none; one closed in the window until its month."""
    from clinical.selectors.cohort import open_alerts_by_month
    from registry.models import Patient

    today = dt.date(2024, 6, 15)
    make = {"patient": patient_a, "severity": "critical", "severity_rank": 0, "message": "m", "params": {}}
    Alert.objects.create(rule="A", subject_key="a", observed_on=dt.date(2019, 1, 20), status="open", **make)
    old = Alert.objects.create(rule="B", subject_key="b", observed_on=dt.date(2019, 2, 3), status="resolved", **make)
    Alert.objects.filter(pk=old.pk).update(resolved_at=dt.datetime(2021, 4, 2, tzinfo=dt.UTC))
    late = Alert.objects.create(rule="C", subject_key="c", observed_on=dt.date(2020, 2, 3), status="resolved", **make)
    Alert.objects.filter(pk=late.pk).update(resolved_at=dt.datetime(2023, 9, 30, 23, 0, tzinfo=dt.UTC))
    months = open_alerts_by_month(patients=Patient.objects.filter(pk=patient_a.pk), today=today)
    critical = {m: v["critical"] for m, v in months.items()}
    assert min(critical) == dt.date(2022, 7, 1)
    assert all(n == 2 for m, n in critical.items() if m < dt.date(2023, 9, 1))
    assert all(n == 1 for m, n in critical.items() if m >= dt.date(2023, 9, 1))


def test_alert_counts_over_many_patients_read_only_an_index(registry_admin, clinician_a, patient_a):
    """The header's counts and the cohort's alerts by month name only columns of
    alert_status_cover_idx, so PostgreSQL can answer them from an index alone instead of
    reading the wide rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clinical.selectors.alert_groups import header_alert_counts
    from clinical.selectors.cohort import open_alerts_by_month
    from registry.models import Patient

    index = next(i for i in Alert._meta.indexes if i.name == "alert_status_cover_idx")
    covered = {Alert._meta.get_field(name).column for name in (*index.fields, *index.include)}
    responder(patient_a, clinician_a)
    with CaptureQueriesContext(connection) as ctx:
        header_alert_counts(user=registry_admin)
        header_alert_counts(user=clinician_a)
        open_alerts_by_month(patients=Patient.objects.all(), today=timezone.localdate())
    counts = [q["sql"] for q in ctx.captured_queries if '"clinical_alert"' in q["sql"]]
    assert len(counts) == 3  # the others read the users' memberships
    for sql in counts:
        assert set(re.findall(r'"clinical_alert"\."(\w+)"', sql)) <= covered, sql
        assert "COUNT(*)" in sql
    # The header's counts ask exactly for the rows of the partial index alert_open_current_idx
    # (open, not historic): PostgreSQL proves that from the query's own condition, or the
    # index cannot be used at all (on this tiny table it would rather read the table: the
    # other plans are switched off).
    with connection.cursor() as cur:
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            cur.execute(f"SET LOCAL {setting} = off")
        for sql in counts[:2]:
            cur.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cur.fetchall())
            assert "using alert_open_current_idx on clinical_alert" in plan, plan


def test_figure_script_escapes_like_json_script():
    from clinical.views.dashboards import figure_script

    out = str(figure_script({"text": "</script><img src=x onerror=alert(1)>&"}, "fig"))
    assert out.startswith('<script id="fig" type="application/json">')
    assert "</script><img" not in out and "<img" not in out and "&" not in out.split(">", 1)[1]
    assert json.loads(out.split(">", 1)[1].rsplit("<", 1)[0]) == {"text": "</script><img src=x onerror=alert(1)>&"}


def test_favicon_ico_is_served_at_the_root_for_pages_without_our_icon_link(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200
    body = b"".join(resp.streaming_content) if resp.streaming else resp.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
