"""Reliability against PostgreSQL (SECURITY.md items 28 and 29).

Item 28: several threads register the same (site, MRN) at the same moment, through the
service and through the API: exactly one patient is created, every other caller gets the
MRN validation error (400 in the API), never an IntegrityError or a 500.
Item 29: the server's database connection is killed (pg_terminate_backend from another
connection; the machine's PostgreSQL keeps running for everyone else): the next request
reconnects by itself (CONN_HEALTH_CHECKS) and the rows committed before are there.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections
from rest_framework.test import APIClient

from registry import services as registry_services
from registry.models import Patient, PatientIdentity
from registry.tokens import token_issue
from tests import live
from tests.factories import make_site, make_user

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
THREADS = 6


def race(n: int, work) -> list:
    """Run ``work()`` in n threads released together; each thread's result or exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_mrn_through_the_service():
    site = make_site("RACE", "Race site")
    clinician = make_user("race_clin", site=site, role="clinician")

    def register():
        return registry_services.patient_register(
            site=site,
            sex="female",
            birth_date=dt.date(1990, 1, 1),
            family_name="Race",
            given_name="Rita",
            mrn="DUP-1",
            by=clinician,
        )

    results = race(THREADS, register)
    created = [r for r in results if isinstance(r, Patient)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(created) == 1, results
    assert len(refused) == THREADS - 1, results
    for error in refused:
        assert error.message_dict == {"mrn": ["MRN DUP-1 is already registered at RACE."]}
    assert PatientIdentity.objects.filter(site=site, mrn="DUP-1").count() == 1
    assert Patient.objects.filter(home_site=site).count() == 1  # no orphan patient row left behind


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_mrn_through_the_api():
    site = make_site("RACE", "Race site")
    clinician = make_user("race_clin", site=site, role="clinician")
    _token, key = token_issue(user=clinician)
    body = {"site": "RACE", "sex": "male", "birth_date": "1985-02-03", "family_name": "Race", "given_name": "Rob"}

    def post():
        api = APIClient(raise_request_exception=False)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return api.post("/api/v1/patients/", {**body, "mrn": "DUP-2"}, format="json")

    responses = race(THREADS, post)
    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert statuses == [201] + [400] * (THREADS - 1), statuses
    for r in responses:
        if r.status_code == 400:
            assert "MRN DUP-2 is already registered at RACE." in str(r.json()), r.json()
    assert PatientIdentity.objects.filter(site=site, mrn="DUP-2").count() == 1


# --- item 29 ----------------------------------------------------------------------------


def _dsn() -> str:
    return live.test_database_url()


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_killed_database_connection_is_replaced_on_the_next_request():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    site = make_site("CONN", "Connection site")
    clinician = make_user("conn_clin", site=site, role="clinician")
    _token, key = token_issue(user=clinician)
    with live.gunicorn(workers=1) as server:
        url = f"{server.url}/api/v1/patients/"
        registry_services.patient_register(
            site=site,
            sex="female",
            birth_date=dt.date(1980, 1, 1),
            family_name="Kept",
            given_name="Kim",
            mrn="KEEP-1",
            by=clinician,
        )
        assert _get(url, key) == 200  # the server now holds a persistent connection

        with psycopg.connect(_dsn(), autocommit=True) as admin:
            mine = (connection.connection.info.backend_pid, admin.info.backend_pid)
            killed = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> ALL(%s)",
                [list(mine)],
            ).fetchone()[0]
        assert killed >= 1, "the server held no connection to kill"

        statuses = [_get(url, key) for _ in range(3)]
        assert statuses == [200, 200, 200], statuses
        assert PatientIdentity.objects.filter(site=site, mrn="KEEP-1").count() == 1
    assert b"Traceback" not in server.stderr, server.stderr.decode(errors="replace")[-3000:]
