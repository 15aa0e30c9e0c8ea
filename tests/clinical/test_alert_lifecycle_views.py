"""Historic alerts, the worklist grouped by patient and rule, a note for critical
acknowledgements, acknowledged alerts reopened with a reason, and the header's counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from clinical import services
from clinical.evaluation import patient_evaluate
from clinical.historic import is_historic
from clinical.models import Alert, AlertStatus
from registry.models import AuditEvent
from tests.factories import make_lab
from tests.registry.test_api import api_for

pytestmark = pytest.mark.django_db
URL = "/alerts/"


@pytest.mark.parametrize(("days_old", "historic"), [(0, False), (180, False), (181, True), (2000, True)])
def test_is_historic(days_old, historic):
    raised = dt.date(2026, 11, 12)
    assert is_historic(raised - dt.timedelta(days=days_old), raised) is historic
    assert is_historic(None, raised) is False


@pytest.fixture
def mixed(patient_a, clinician_a):
    """Three severe triglycerides of this autumn (one group) and one back-entered 2018
    result (historic), all evaluated today."""
    today = timezone.localdate()
    for ago in (10, 40, 70):
        make_lab(patient_a, "1200", collected_on=today - dt.timedelta(days=ago), by=clinician_a)
    make_lab(patient_a, "1500", collected_on=dt.date(2018, 3, 1), by=clinician_a)
    patient_evaluate(patient_id=patient_a.pk)
    assert Alert.objects.filter(rule="TG_SEVERE").count() == 4
    return today


def test_worklist_groups_by_patient_and_rule_and_leaves_historic_out(client, clinician_a, mixed):
    client.force_login(clinician_a)
    r = client.get(URL)
    [row] = r.context["rows"]
    group = row["group"]
    assert group.count == 3 and group.latest.observed_on == mixed - dt.timedelta(days=10)
    assert [a.observed_on for a in group.earlier] == [mixed - dt.timedelta(days=d) for d in (40, 70)]
    assert "3 alerts" in r.content.decode() and "2 earlier" in r.content.decode()
    with_historic = client.get(URL + "?historic=1").context["rows"][0]["group"]
    assert with_historic.count == 4 and with_historic.alerts[-1].observed_on == dt.date(2018, 3, 1)


def test_header_counts_open_and_critical_without_historic(client, clinician_a, researcher_a, mixed):
    client.force_login(clinician_a)
    body = client.get(reverse("patient-list")).content.decode()
    assert "3 open</span>" in body and "3 critical</span>" in body
    client.force_login(researcher_a)
    body = client.get(reverse("patient-list")).content.decode()
    assert reverse("alert-worklist") not in body


def test_header_counts_every_site_for_the_admin_and_own_sites_for_a_clinician(
    client, clinician_a, clinician_b, registry_admin, patient_a, patient_b, mixed
):
    """The admin's count reads every alert (no join with the patients); a clinician's only
    their sites'. Acknowledged and historic alerts are left out of both."""
    make_lab(patient_b, "1300", collected_on=mixed - dt.timedelta(days=5), by=clinician_b)
    make_lab(patient_b, "1400", collected_on=mixed - dt.timedelta(days=35), by=clinician_b)
    patient_evaluate(patient_id=patient_b.pk)
    acked = Alert.objects.filter(patient=patient_b, observed_on=mixed - dt.timedelta(days=35)).get()
    Alert.objects.filter(pk=acked.pk).update(status=AlertStatus.ACKNOWLEDGED)
    expected = {clinician_a: "3 open</span>", clinician_b: "1 open</span>", registry_admin: "4 open</span>"}
    for user, badge in expected.items():
        client.force_login(user)
        body = client.get(reverse("patient-list")).content.decode()
        assert badge in body and badge.replace("open", "critical") in body


def test_api_and_chart_mark_historic(client, clinician_a, patient_a, mixed):
    body = api_for(clinician_a).get(f"/api/v1/patients/{patient_a.public_id}/alerts/").json()
    rows = body["results"] if isinstance(body, dict) else body
    historic = {r["observed_on"]: r["historic"] for r in rows}
    assert historic["2018-03-01"] is True and list(historic.values()).count(False) == 3
    client.force_login(clinician_a)
    chart = client.get(reverse("patient-chart", args=[patient_a.public_id])).content.decode()
    assert chart.count('class="badge historic"') == 1


def test_critical_acknowledgement_needs_a_note_then_reopens_with_a_reason(client, clinician_a, mixed):
    alert = Alert.objects.filter(rule="TG_SEVERE").order_by("-observed_on").first()
    with pytest.raises(ValidationError, match="needs a note"):
        services.alert_acknowledge(alert=alert, by=clinician_a, note="  ")
    client.force_login(clinician_a)
    client.post(reverse("alert-acknowledge", args=[alert.public_id]), {"note": ""})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    client.post(reverse("alert-acknowledge", args=[alert.public_id]), {"note": "Fibrate started, recheck 4 weeks"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    listed = client.get(URL + "?status=acknowledged")
    [row] = listed.context["rows"]
    assert row["alert"] == alert
    body = listed.content.decode()
    assert "Fibrate started, recheck 4 weeks" in body and clinician_a.get_full_name() in body
    resp = client.post(reverse("alert-reopen", args=[alert.public_id]), {"reason": ""}, follow=True)
    assert "Say why" in resp.content.decode()
    client.post(reverse("alert-reopen", args=[alert.public_id]), {"reason": "TG still rising"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.acknowledge_note == ""
    event = AuditEvent.objects.filter(model="clinical.Alert", object_id=str(alert.public_id)).order_by("-id").first()
    assert event.reason == "reopened: TG still rising"
