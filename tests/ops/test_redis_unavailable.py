"""SECURITY.md items 25 and 33: with Redis refusing connections or accepting and never
answering, every API read and write and every web page still answers within 3 s;
throttling and caching fail open, and the writes' evaluations wait for the sweep.

A real gunicorn serves the test database with REDIS_URL (cache and broker) pointing at a
port with no listener, then at a socket server that accepts and stays silent. The
machine's Redis is never touched.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.test import Client

from clinical.models import LabResult
from registry.models import Patient
from registry.tokens import token_issue
from tests import live
from tests.factories import make_patient, make_site, make_user
from tests.ops.faults import SilentServer, dead_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
LIMIT_SECONDS = 3.0


def _timed(log: list, label: str, call):
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    log.append((label, response.status_code, round(elapsed, 2)))
    print(f"  {label:<28} -> {response.status_code} in {elapsed:.2f} s")
    return response, elapsed


def _exercise(server_url: str, key: str, session_key: str, patient_public_id: str, site_code: str) -> list:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    seen: list = []
    base = f"{server_url}/api/v1"
    checks = [
        ("GET patients", lambda: api.get(f"{base}/patients/", timeout=10), 200),
        ("GET patient", lambda: api.get(f"{base}/patients/{patient_public_id}/", timeout=10), 200),
        (
            "POST patient",
            lambda: api.post(
                f"{base}/patients/",
                json={
                    "site": site_code,
                    "sex": "female",
                    "birth_date": "1990-01-01",
                    "family_name": "Outage",
                    "given_name": "Olga",
                    "mrn": f"RD-{uuid.uuid4().hex[:8]}",
                },
                timeout=10,
            ),
            201,
        ),
        (
            "POST lab",
            lambda: api.post(
                f"{base}/patients/{patient_public_id}/labs/",
                json={"analyte": "triglycerides", "value": 4.1, "unit": "mmol/L", "collected_on": "2025-01-02"},
                timeout=10,
            ),
            201,
        ),
        ("GET labs", lambda: api.get(f"{base}/patients/{patient_public_id}/labs/", timeout=10), 200),
    ]
    for label, call, expected in checks:
        response, elapsed = _timed(seen, label, call)
        assert response.status_code == expected, (label, response.status_code, response.text[:500])
        assert elapsed < LIMIT_SECONDS, (label, elapsed)

    web = requests.Session()
    web.cookies.set("sessionid", session_key)  # logged in by the test (its hasher is not the server's)
    for label, path in (("GET patient list", "/patients/"), ("GET chart", f"/patients/{patient_public_id}/")):
        response, elapsed = _timed(seen, label, lambda path=path: web.get(f"{server_url}{path}", timeout=10))
        assert response.status_code == 200 and elapsed < LIMIT_SECONDS, (label, response.status_code, elapsed)
        assert not response.history, f"{label}: redirected to {response.url}"
    form_page = web.get(f"{server_url}/patients/{patient_public_id}/labs/new/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.text).group(1)
    response, elapsed = _timed(
        seen,
        "POST lab form",
        lambda: web.post(
            f"{server_url}/patients/{patient_public_id}/labs/new/",
            data={
                "analyte": "triglycerides",
                "value": "3.3",
                "unit": "mmol/L",
                "collected_on": "2025-02-03",
                "csrfmiddlewaretoken": csrf,
            },
            headers={"Referer": f"{server_url}/patients/{patient_public_id}/labs/new/"},
            timeout=10,
            allow_redirects=False,
        ),
    )
    assert response.status_code == 302 and elapsed < LIMIT_SECONDS, (
        response.status_code,
        elapsed,
        response.text[-800:],
    )
    return seen


@pytest.fixture
def people():
    site = make_site("REDIS", "Redis outage site")
    clinician = make_user("redis_clin", site=site, role="clinician")
    patient = make_patient(site=site, by=clinician)
    Patient.objects.filter(pk=patient.pk).update(needs_evaluation=False, dirty_since=None)
    _token, key = token_issue(user=clinician)
    return site, clinician, patient, key


def _run(people, redis_url: str, what: str) -> None:
    site, clinician, patient, key = people
    browser = Client()
    browser.force_login(clinician)
    session_key = browser.cookies["sessionid"].value
    labs_before = LabResult.objects.filter(patient=patient).count()
    print(f"\n{what}: REDIS_URL={redis_url}")
    # plain-HTTP cookies so the browser-like session logs in over loopback
    # and the test's secret key, which signed the session
    env = {"REDIS_URL": redis_url, "DJANGO_SECURE_COOKIES": "0", "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    with live.gunicorn(workers=1, env=env) as server:
        _exercise(server.url, key, session_key, str(patient.public_id), site.code)
    # the writes are all there, flagged for the sweep (their enqueue was refused)
    assert LabResult.objects.filter(patient=patient).count() == labs_before + 2
    patient.refresh_from_db()
    assert patient.needs_evaluation is True and patient.dirty_since is not None
    print(f"  patient flagged for the sweep: needs_evaluation={patient.needs_evaluation}")
    # the refused enqueues are logged as warnings (with their traceback); no request failed
    assert b"Internal Server Error" not in server.stderr, server.stderr.decode(errors="replace")[-3000:]
    assert b'"level": "ERROR"' not in server.stderr, server.stderr.decode(errors="replace")[-3000:]


def test_redis_refusing_connections(people):
    _run(people, f"redis://127.0.0.1:{dead_port()}/0", "Redis refusing connections")


def test_redis_accepting_and_never_answering(people):
    with SilentServer() as silent:
        _run(people, f"redis://127.0.0.1:{silent.port}/0", "Redis accepting and silent")
        print(f"  the silent server held {len(silent.accepted)} connections")
        assert silent.accepted, "the app never tried Redis: the test would prove nothing"
