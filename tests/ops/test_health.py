"""/healthz and /readyz: what each checks, and who sees the details."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ops import health
from ops.heartbeat import stamp
from ops.models import Heartbeat, ParkedTask
from registry.models import Patient
from registry.tokens import token_issue
from tests.factories import make_user
from tests.ops.faults import dead_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_anonymously_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def _staff(site_a):
    return make_user("ops_staff", site=site_a, role="registry_admin", is_staff=True)


def _checks(response) -> dict:
    return {c["name"]: c for c in response.json()["checks"]}


def test_readyz_reports_every_check_to_staff(client, site_a):
    stamp()
    client.force_login(_staff(site_a))
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    checks = _checks(response)
    assert set(checks) == {"database", "migrations", "broker", "worker", "evaluation_backlog", "parked_tasks"}
    assert {c["status"] for c in checks.values()} == {"ok"}


def test_anonymous_and_non_staff_callers_get_the_status_code_only(client, clinician_a):
    Heartbeat.objects.all().delete()  # no worker: not ready
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503 and anonymous.content == b""
    client.force_login(clinician_a)
    clinician = client.get("/readyz")
    assert clinician.status_code == 503 and clinician.content == b""


def test_staff_token_gets_the_details(client, site_a):
    _token, key = token_issue(user=_staff(site_a))
    stamp()
    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_a_stale_worker_heartbeat_makes_the_registry_unready(client, site_a, settings):
    client.force_login(_staff(site_a))
    stamp()
    Heartbeat.objects.update(
        seen_at=timezone.now() - dt.timedelta(seconds=settings.READYZ_HEARTBEAT_MAX_AGE_SECONDS + 5)
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert _checks(response)["worker"]["status"] == "fail"


def test_an_unreachable_broker_makes_the_registry_unready(client, site_a, settings):
    stamp()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{dead_port()}/0"
    client.force_login(_staff(site_a))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _checks(response)["broker"] == {
        "name": "broker",
        "status": "fail",
        "detail": "ConnectionError",
        "value": None,
    }


def test_an_old_evaluation_backlog_and_parked_tasks_degrade_readiness(client, site_a, patient_a, settings):
    stamp()
    client.force_login(_staff(site_a))
    old = timezone.now() - dt.timedelta(seconds=settings.READYZ_BACKLOG_WARN_SECONDS + 60)
    Patient.objects.filter(pk=patient_a.pk).update(needs_evaluation=True, dirty_since=old)
    ParkedTask.objects.create(task_id="t-1", task_name="clinical.tasks.evaluate_patient", args=[1], deliveries=3)
    response = client.get("/readyz")
    assert response.status_code == 200  # the registry still serves; the operator must look
    body = response.json()
    assert body["status"] == "degraded"
    checks = _checks(response)
    assert checks["evaluation_backlog"]["status"] == "warn"
    assert checks["evaluation_backlog"]["value"] >= settings.READYZ_BACKLOG_WARN_SECONDS + 60
    assert checks["parked_tasks"] == {
        "name": "parked_tasks",
        "status": "warn",
        "detail": "1 tasks parked after repeated worker deaths",
        "value": 1,
    }


def test_overall_status_pure():
    c = health.Check
    assert health.overall([c("a", "ok"), c("b", "skipped")]) == "ready"
    assert health.overall([c("a", "ok"), c("b", "warn")]) == "degraded"
    assert health.overall([c("a", "warn"), c("b", "fail")]) == "unavailable"


def test_unapplied_migrations_make_the_registry_unready(client, site_a):
    from django.db.migrations.recorder import MigrationRecorder

    stamp()
    client.force_login(_staff(site_a))
    health._migrations_applied = False
    # the database forgets the newest applied migration of an app (rolled back with the test)
    MigrationRecorder.Migration.objects.filter(app="ops").order_by("-name").first().delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _checks(response)["migrations"]["status"] == "fail"
    assert _checks(response)["migrations"]["value"] == 1
    health._migrations_applied = False
