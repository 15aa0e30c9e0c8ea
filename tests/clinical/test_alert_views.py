"""The /alerts/ worklist, the acknowledge action and the chart panel partial."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from clinical.evaluation import patient_evaluate
from clinical.models import Alert, AlertStatus
from clinical.selectors import patient_open_alerts
from registry.models import AuditEvent
from tests.factories import make_lab, make_patient

pytestmark = pytest.mark.django_db

URL = "/alerts/"


def alerts_of(response) -> list:
    """The worklist's alerts in display order: each patient-and-rule group, expanded.
    (The fixtures raise alerts on evidence from 2025, historic today: asked for.)"""
    return [a for row in response.context["rows"] for a in row["group"].alerts]


def raise_alert(patient, by, value="1200", analyte="triglycerides", unit="mg/dL", on=dt.date(2025, 1, 10)):
    make_lab(patient=patient, analyte=analyte, value=value, unit=unit, collected_on=on, by=by)
    patient_evaluate(patient_id=patient.pk, today=dt.date(2025, 6, 1))


@pytest.fixture
def alerts_ab(patient_a, patient_b, clinician_a, clinician_b):
    raise_alert(patient_a, clinician_a)  # TG_SEVERE, critical
    raise_alert(patient_a, clinician_a, "600", on=dt.date(2025, 2, 1))  # TG_VERY_HIGH, warning
    raise_alert(patient_a, clinician_a, "60", "glucose", on=dt.date(2025, 3, 1))  # LOW_GLUCOSE, warning
    raise_alert(patient_b, clinician_b)
    return Alert.objects.all()


def test_url_name():
    assert reverse("alert-worklist") == URL


def test_anonymous_is_sent_to_login(client):
    r = client.get(URL + "?historic=1")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_worklist_shows_own_site_alerts_by_severity_then_date(client, clinician_a, alerts_ab, patient_b):
    client.force_login(clinician_a)
    r = client.get(URL + "?historic=1")
    assert r.status_code == 200
    rows = alerts_of(r)
    assert [a.rule for a in rows] == ["TG_SEVERE", "LOW_GLUCOSE", "TG_VERY_HIGH"]  # warnings newest first
    assert all(a.patient.home_site.code == "SITEA" for a in rows)
    assert patient_b.registry_code not in r.content.decode()
    assert "1200 mg/dL" in r.content.decode()


def test_messages_in_the_viewers_units(client, clinician_a, alerts_ab):
    clinician_a.unit_system = "si"
    clinician_a.save()
    client.force_login(clinician_a)
    body = client.get(URL + "?historic=1").content.decode()
    assert "13.55 mmol/L" in body and "11.29 mmol/L" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("severity=critical", ["TG_SEVERE"]),
        ("severity=warning", ["LOW_GLUCOSE", "TG_VERY_HIGH"]),
        ("rule=LOW_GLUCOSE", ["LOW_GLUCOSE"]),
        ("site=SITEB", []),  # not the user's site: nothing, never another site's rows
        ("severity=bogus", ["TG_SEVERE", "LOW_GLUCOSE", "TG_VERY_HIGH"]),  # ignored
    ],
)
def test_filters(client, clinician_a, alerts_ab, query, expected):
    client.force_login(clinician_a)
    r = client.get(f"{URL}?historic=1&{query}")
    assert [a.rule for a in alerts_of(r)] == expected


def test_site_filter_for_admin(client, registry_admin, alerts_ab):
    client.force_login(registry_admin)
    r = client.get(f"{URL}?historic=1&site=SITEB")
    assert [a.patient.home_site.code for a in alerts_of(r)] == ["SITEB"]


def test_acknowledged_and_resolved_alerts_leave_the_worklist(client, clinician_a, alerts_ab):
    Alert.objects.filter(rule="TG_VERY_HIGH").update(status=AlertStatus.ACKNOWLEDGED)
    Alert.objects.filter(rule="LOW_GLUCOSE").update(status=AlertStatus.RESOLVED)
    client.force_login(clinician_a)
    assert [a.rule for a in alerts_of(client.get(URL + "?historic=1"))] == ["TG_SEVERE"]


def test_researcher_is_refused(client, researcher_a, alerts_ab):
    client.force_login(researcher_a)
    assert client.get(URL + "?historic=1").status_code == 403


def test_wrong_method(client, clinician_a):
    client.force_login(clinician_a)
    assert client.post(URL).status_code == 405
    a_url = reverse("alert-acknowledge", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(a_url).status_code == 405


def test_pagination_and_query_count(client, clinician_a, site_a, django_assert_num_queries):
    patients = [make_patient(site=site_a, by=clinician_a) for _ in range(3)]
    for p in patients:
        for day in range(1, 20):
            make_lab(patient=p, analyte="glucose", value="50", collected_on=dt.date(2025, 1, day), by=clinician_a)
        patient_evaluate(patient_id=p.pk, today=dt.date(2025, 6, 1))
    assert Alert.objects.count() == 57
    client.force_login(clinician_a)
    # session, user, memberships (scope), count, page of alerts with patient/site/identity/
    # evidence joined, the site filter options, the header's critical count and its sites,
    # then the session save (savepoint, update, release): 11, whatever the page size
    # One row per patient and rule: three rows of 19 alerts each.
    with django_assert_num_queries(12):
        r = client.get(URL + "?historic=1")
    assert [row["group"].count for row in r.context["rows"]] == [19, 19, 19]
    assert len(alerts_of(r)) == 57
    with django_assert_num_queries(12):
        r2 = client.get(f"{URL}?historic=1&page=1&severity=critical")
    assert len(r2.context["rows"]) == 3


def test_acknowledge_in_place(client, clinician_a, alerts_ab):
    alert = Alert.objects.get(rule="TG_SEVERE", patient__home_site__code="SITEA")
    client.force_login(clinician_a)
    r = client.post(
        reverse("alert-acknowledge", args=[alert.public_id]),
        {"note": "Called the patient", "next": f"{URL}?severity=critical"},
    )
    assert r.status_code == 302 and r["Location"] == f"{URL}?severity=critical"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == clinician_a and alert.acknowledge_note == "Called the patient"
    assert alert.acknowledged_at is not None
    assert AuditEvent.objects.filter(object_id=str(alert.public_id), action="update").exists()


def test_acknowledge_refuses_foreign_next(client, clinician_a, alerts_ab):
    alert = Alert.objects.filter(patient__home_site__code="SITEA").first()
    client.force_login(clinician_a)
    r = client.post(reverse("alert-acknowledge", args=[alert.public_id]), {"next": "https://evil.example/"})
    assert r["Location"] == URL


def test_acknowledge_other_site_is_404(client, clinician_a, alerts_ab):
    alert = Alert.objects.get(patient__home_site__code="SITEB")
    client.force_login(clinician_a)
    assert client.post(reverse("alert-acknowledge", args=[alert.public_id])).status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_acknowledge_read_only_is_403(client, site_a, alerts_ab):
    from tests.factories import make_user

    reader = make_user("reader", site=site_a, role="researcher")
    alert = Alert.objects.filter(patient__home_site__code="SITEA").first()
    client.force_login(reader)
    assert client.post(reverse("alert-acknowledge", args=[alert.public_id])).status_code == 403


def test_acknowledge_anonymous(client, alerts_ab):
    alert = Alert.objects.first()
    r = client.post(reverse("alert-acknowledge", args=[alert.public_id]))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_acknowledge_resolved_alert_shows_error(client, clinician_a, alerts_ab):
    alert = Alert.objects.filter(patient__home_site__code="SITEA").first()
    Alert.objects.filter(pk=alert.pk).update(status=AlertStatus.RESOLVED)
    client.force_login(clinician_a)
    r = client.post(reverse("alert-acknowledge", args=[alert.public_id]), follow=True)
    assert "already resolved" in r.content.decode()


def test_panel_partial(clinician_a, patient_a, alerts_ab, django_assert_num_queries):
    with django_assert_num_queries(1):  # the open alerts with their evidence rows
        alerts = patient_open_alerts(patient=patient_a)
    assert [a.rule for a in alerts] == ["TG_SEVERE", "LOW_GLUCOSE", "TG_VERY_HIGH"]
    request = RequestFactory().get("/patients/x/")
    request.user = clinician_a
    with django_assert_num_queries(0):
        html = render_to_string(
            "clinical/alerts/_panel.html",
            {"alerts": alerts, "user": clinician_a, "can_write": True, "request": request},
        )
    assert html.count('class="alert-line') == 3
    assert "1200 mg/dL" in html and "Acknowledge" in html
    # evidence opens the read-only view of the result, not its edit form
    assert reverse("lab-detail", args=[alerts[0].lab_result.public_id]) in html
    assert reverse("lab-edit", args=[alerts[0].lab_result.public_id]) not in html
    empty = render_to_string("clinical/alerts/_panel.html", {"alerts": [], "user": clinician_a, "request": request})
    assert "No open alerts" in empty


@pytest.fixture
def aged_alerts(patient_a, clinician_a):
    """Four severe triglyceride results, entered newest evidence first (so the oldest
    evidence raises the newest alert)."""
    from django.utils import timezone

    today = timezone.localdate()
    days = [10, 60, 200, 800]
    for ago in days:
        make_lab(patient=patient_a, value="1200", collected_on=today - dt.timedelta(days=ago), by=clinician_a)
        patient_evaluate(patient_id=patient_a.pk, today=today)
    return {ago: today - dt.timedelta(days=ago) for ago in days}


def test_worklist_orders_by_observed_date_not_by_when_raised(client, clinician_a, aged_alerts):
    client.force_login(clinician_a)
    r = client.get(URL + "?historic=1")
    rows = alerts_of(r)
    assert [a.observed_on for a in rows] == sorted(aged_alerts.values(), reverse=True)
    assert [a.created_at for a in rows] == sorted((a.created_at for a in rows), reverse=False)
    body = r.content.decode()
    assert "Latest observed</th>" in body and "Raised</th>" not in body
    for on in aged_alerts.values():
        assert f'<time datetime="{on:%Y-%m-%d}">{on.day} {on:%b %Y}</time>' in body
    assert "raised " in body


@pytest.mark.parametrize(("observed", "within"), [("30", [10]), ("90", [10, 60]), ("365", [10, 60, 200]), ("", None)])
def test_observed_date_filter(client, clinician_a, aged_alerts, observed, within):
    client.force_login(clinician_a)
    r = client.get(f"{URL}?historic=1&observed={observed}")
    want = [aged_alerts[d] for d in (within or aged_alerts)]
    assert [a.observed_on for a in alerts_of(r)] == want
    assert (f'<option value="{observed}" selected>' in r.content.decode()) is True
    if observed:
        assert "matching the filters" in r.content.decode()


def test_unknown_observed_filter_is_ignored(client, clinician_a, aged_alerts):
    client.force_login(clinician_a)
    r = client.get(f"{URL}?historic=1&observed=7")
    assert len(alerts_of(r)) == 4 and r.context["filters"].observed == ""


def test_panel_orders_by_observed_date_and_shows_it(clinician_a, patient_a, aged_alerts):
    alerts = patient_open_alerts(patient=patient_a)
    assert [a.observed_on for a in alerts] == sorted(aged_alerts.values(), reverse=True)
    request = RequestFactory().get("/patients/x/")
    request.user = clinician_a
    html = render_to_string(
        "clinical/alerts/_panel.html", {"alerts": alerts, "user": clinician_a, "can_write": True, "request": request}
    )
    first = aged_alerts[10]
    assert (
        f'observed <time class="nowrap" datetime="{first:%Y-%m-%d}">{first.day} {first:%b %Y}</time>' in html
        and "(raised " in html
    )
