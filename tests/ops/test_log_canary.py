"""SECURITY.md item 34 and issue item 3: no patient name, MRN, birth date or search text
in any log line, access logs included; a request id on every line, carried into the tasks
a request enqueues; JSON lines in production, readable text in development.

Canary: a real gunicorn (its access and error logs, and the application's handlers, into
one file) and a real Celery worker (its log into another) serve requests that carry
marker identities (registration, duplicate registration, search, chart, a lab that
enqueues an evaluation). Both files are then searched for every marker.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from django.test import Client

from ops.logging import JsonFormatter, RequestIdFilter, TextFormatter, request_id_var
from registry.tokens import token_issue
from tests import live
from tests.factories import make_site, make_user

ROOT = Path(__file__).resolve().parents[2]
FAMILY, GIVEN, MRN, BIRTH = "Qxcanaryfam", "Qxcanarygiv", "QXMRN-77123", "1977-07-17"
MARKERS = (FAMILY, GIVEN, MRN, BIRTH, "Qxcanary", "17/07/1977", "17.07.1977")


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def worker_log(tmp_path):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": live.test_database_url(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "0",
    }
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("celery", "unacked", "unacked_index")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "registry", "worker", "--pool=solo", "--loglevel=DEBUG",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"canary-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for(lambda: b"ready." in log.read_bytes() or proc.poll() is not None, 60), log.read_text()
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.live
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_no_patient_identity_reaches_any_log(tmp_path, worker_log):
    site = make_site("CANARY", "Canary site")
    clinician = make_user("canary_clin", site=site, role="clinician")
    staff = make_user("canary_staff", site=site, role="registry_admin", is_staff=True)
    _t, key = token_issue(user=clinician)
    _t, staff_key = token_issue(user=staff)
    browser = Client()
    browser.force_login(clinician)
    server_log = tmp_path / "gunicorn.log"
    env = {
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_LOG_LEVEL": "DEBUG",  # the most talkative configuration an operator could pick
    }
    lab_request_id = f"canary-{uuid.uuid4().hex}"
    with live.gunicorn(workers=1, env=env, log_path=server_log, log_level="debug") as server:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {key}"
        web = requests.Session()
        web.cookies.set("sessionid", browser.cookies["sessionid"].value)
        body = {"site": "CANARY", "sex": "female", "birth_date": BIRTH, "family_name": FAMILY, "given_name": GIVEN,
                "mrn": MRN}  # fmt: skip
        created = api.post(f"{server.url}/api/v1/patients/", json=body, timeout=20)
        assert created.status_code == 201, created.text
        patient_id = created.json()["id"]
        duplicate = api.post(f"{server.url}/api/v1/patients/", json=body, timeout=20)
        assert duplicate.status_code == 400 and MRN in duplicate.text  # the caller is told; the log is not
        bad = api.post(f"{server.url}/api/v1/patients/", json={**body, "birth_date": "17/07/1977"}, timeout=20)
        assert bad.status_code == 400
        for q in (FAMILY, GIVEN, MRN, "Qxcanary"):
            page = web.get(
                f"{server.url}/patients/",
                params={"q": q},
                timeout=20,
                headers={"Referer": f"{server.url}/patients/?q={q}"},
            )
            assert page.status_code == 200 and not page.history and FAMILY in page.text
        assert web.get(f"{server.url}/patients/{patient_id}/", timeout=20).status_code == 200
        lab = api.post(
            f"{server.url}/api/v1/patients/{patient_id}/labs/",
            json={"analyte": "triglycerides", "value": 12.5, "unit": "mmol/L", "collected_on": "2025-03-03"},
            headers={"X-Request-ID": lab_request_id},
            timeout=20,
        )
        assert lab.status_code == 201 and lab.headers["X-Request-ID"] == lab_request_id
        ready = requests.get(f"{server.url}/readyz", headers={"Authorization": f"Bearer {staff_key}"}, timeout=20)
        assert ready.headers["Content-Type"] == "application/json"
        assert wait_for(lambda: f"{lab_request_id}" in worker_log.read_text(), 60), worker_log.read_text()[-3000:]
        assert wait_for(lambda: "succeeded" in worker_log.read_text(), 30)

    server_text, worker_text = server_log.read_text(), worker_log.read_text()
    print(f"\ngunicorn log: {len(server_text.splitlines())} lines; worker log: {len(worker_text.splitlines())} lines")
    for name, text in (("gunicorn", server_text), ("worker", worker_text)):
        for marker in MARKERS:
            hits = [line for line in text.splitlines() if marker.lower() in line.lower()]
            print(f"  {name}: {marker!r} found in {len(hits)} lines")
            assert not hits, hits[:3]
    access = [json.loads(line) for line in server_text.splitlines() if '"gunicorn.access"' in line]
    assert len(access) >= 10, server_text[-2000:]
    for record in access:
        assert "?" not in record["message"], record  # no query string, no referer
        assert re.fullmatch(r"[0-9a-f]{32}|canary-[0-9a-f]{32}", record["request_id"]), record
    searches = [r for r in access if '"GET /patients/ HTTP/1.1" 200' in r["message"]]
    assert len(searches) == 4, access
    task_lines = [json.loads(line) for line in worker_text.splitlines() if lab_request_id in line]
    print(f"  worker lines carrying the lab request's id: {len(task_lines)}")
    assert any("evaluate_patient" in r["message"] for r in task_lines), task_lines


def _record(name: str, msg: str, args=()) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_formatters_drop_query_strings_and_carry_the_request_id():
    token = request_id_var.set("abc123def456")
    try:
        line = '"GET /patients/?q=Qxcanaryfam&site=A HTTP/1.1" 200 1234'
        record = _record("django.server", "%s", (line,))
        RequestIdFilter().filter(record)
        text = TextFormatter().format(record)
        assert "Qxcanary" not in text and '"GET /patients/ HTTP/1.1" 200 1234' in text and "[abc123def456]" in text
        body = json.loads(JsonFormatter().format(_record("django.server", "%s", (line,))))
        assert body["message"] == '"GET /patients/ HTTP/1.1" 200 1234'
        assert body["request_id"] == "abc123def456" and body["level"] == "INFO" and body["logger"] == "django.server"
    finally:
        request_id_var.reset(token)


def test_development_logs_are_text_and_production_logs_are_json():
    code = "from django.conf import settings; print(settings.LOGGING['handlers']['console']['formatter'])"
    outputs = {}
    for debug in ("1", "0"):
        env = {**os.environ, "DJANGO_DEBUG": debug, "DJANGO_SECRET_KEY": "x" * 50}
        env.pop("DJANGO_LOG_FORMAT", None)
        outputs[debug] = (
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", code],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    assert outputs == {"1": "text", "0": "json"}
