"""schemathesis against the live server: gunicorn on loopback, PostgreSQL, a seeded
database, once with a clinician token and once with a researcher token. No 5xx, and
every response conforms to the OpenAPI schema (status codes, content types, bodies,
headers). Bounded (max examples per operation) so that it runs in CI in minutes."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from clinical import services
from registry.tokens import token_issue
from tests.factories import make_patient, make_site, make_user

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed():
    site_a, site_b = make_site("LIVEA", "Live A"), make_site("LIVEB", "Live B")
    clinician = make_user("live_clin", site=site_a, role="clinician")
    researcher = make_user("live_res", site=site_a, role="researcher")
    other = make_user("live_clin_b", site=site_b, role="clinician")
    for i in range(3):
        patient = make_patient(site=site_a, by=clinician, mrn=f"LIVE{i}")
        services.visit_record(
            patient=patient, by=clinician, visit_date=dt.date(2023, 1, 5), weight_kg=60, height_cm=165
        )
        for day, tg in ((dt.date(2023, 1, 1), 12), (dt.date(2023, 7, 1), 6)):
            services.lab_result_record(
                patient=patient, analyte="triglycerides", value=tg, unit="mmol/L", collected_on=day, by=clinician
            )
        services.course_start(
            patient=patient,
            drug="metreleptin",
            start_date=dt.date(2023, 1, 2),
            dose=5,
            dose_unit="mg/day",
            by=clinician,
        )
    make_patient(site=site_b, by=other, mrn="LIVEB1")
    return token_issue(user=clinician)[1], token_issue(user=researcher)[1]


@pytest.fixture
def live_server_url(transactional_db):
    keys = _seed()
    port = _free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "DJANGO_SECRET_KEY": "live-test-only",
        "DJANGO_STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "API_THROTTLE_RATE": "1000000/hour",
        "REDIS_URL": "",
    }
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "registry.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--no-control-socket", "--timeout", "60", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield url, keys
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
        if b"Traceback" in (err or b""):
            print(err.decode(errors="replace")[-5000:])


def _run(url: str, key: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{url}/api/schema/?format=json", "--url", url,
         "-H", f"Authorization: Bearer {key}", "--checks", CHECKS, "--max-examples", MAX_EXAMPLES,
         "--phases", "examples,fuzzing", "--workers", "2", "--seed", "1", "--no-color",
         "--request-timeout", "30", "--suppress-health-check", "all"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.live
def test_schemathesis_clinician_and_researcher(live_server_url):
    url, (clinician_key, researcher_key) = live_server_url
    for who, key in (("clinician", clinician_key), ("researcher", researcher_key)):
        result = _run(url, key)
        if result.returncode != 0:
            Path(f"/tmp/schemathesis-{who}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"{who}:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
