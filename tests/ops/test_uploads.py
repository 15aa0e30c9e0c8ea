"""Issue item 5: uploads are limited by the bytes that arrive (chunked bodies included),
and confirming a lab import runs in a worker with its progress on the page and in the API.
"""

from __future__ import annotations

import datetime as dt
import http.client
import io
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from clinical.models import LabImport, LabResult
from ops.models import LabImportJob
from registry.tokens import token_issue
from tests import live
from tests.factories import make_patient, make_site, make_user

ROOT = Path(__file__).resolve().parents[2]
HEADER = "registry_code,analyte,value,unit,collected_on,fasting\r\n"
ANALYTES = (("triglycerides", "mmol/L", "4.2"), ("hba1c", "%", "7.1"), ("alt", "U/L", "41"))


def lab_csv(codes: list[str], days: int) -> bytes:
    """Valid rows: every patient x analyte x day, dates ending yesterday."""
    end = dt.date.today() - dt.timedelta(days=1)
    lines = [HEADER]
    for code in codes:
        for analyte, unit, value in ANALYTES:
            for d in range(days):
                lines.append(f"{code},{analyte},{value},{unit},{(end - dt.timedelta(days=d)).isoformat()},yes\r\n")
    return "".join(lines).encode()


def multipart(content: bytes, csrf: str | None = None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    if csrf:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{csrf}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="labs.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def send_chunked(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked (no Content-Length), 64 KiB per chunk."""
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    except (BrokenPipeError, ConnectionResetError) as exc:
        return 0, repr(exc).encode()
    finally:
        conn.close()


@pytest.mark.django_db
def test_web_upload_past_the_limit_is_stopped_while_streaming(client, clinician_a, patient_a, settings):
    settings.LAB_IMPORT_MAX_BYTES = 10_000
    client.force_login(clinician_a)
    big = lab_csv([patient_a.registry_code], 400)  # about 5 times the limit
    assert len(big) > 3 * settings.LAB_IMPORT_MAX_BYTES
    upload = io.BytesIO(big)
    upload.name = "labs.csv"
    response = client.post("/imports/labs/", {"file": upload})
    assert response.status_code == 413
    # stopped by the upload handler mid-stream (not by a size check after the whole file)
    assert "The upload was stopped: the limit is 10,000 bytes" in response.content.decode()
    assert not LabImport.objects.exists()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_chunked_uploads_are_measured_not_trusted(settings):
    site = make_site("CHUNK", "Chunked site")
    clinician = make_user("chunk_clin", site=site, role="clinician")
    patient = make_patient(site=site, by=clinician)
    _t, key = token_issue(user=clinician)
    limit = 50_000
    small = lab_csv([patient.registry_code], 30)
    big = lab_csv([patient.registry_code], 2000)
    assert len(small) < limit < len(big) - 64 * 1024
    with live.gunicorn(env={"LAB_IMPORT_MAX_BYTES": str(limit)}) as server:
        auth = {"Authorization": f"Bearer {key}"}
        body, ctype = multipart(small)
        status, text = send_chunked(server.url, "/api/v1/lab-imports/", body, {**auth, "Content-Type": ctype})
        print(f"\nchunked multipart of {len(body):,} bytes -> {status}")
        assert status == 201, text[:500]
        body, ctype = multipart(big)
        started = time.monotonic()
        status, text = send_chunked(server.url, "/api/v1/lab-imports/", body, {**auth, "Content-Type": ctype})
        print(
            f"chunked multipart of {len(body):,} bytes (limit {limit:,}) -> {status} in {time.monotonic() - started:.2f} s"
        )
        assert status == 413, text[:500]
        status, text = send_chunked(server.url, "/api/v1/lab-imports/", big, {**auth, "Content-Type": "text/csv"})
        print(f"chunked text/csv of {len(big):,} bytes -> {status}")
        assert status == 413, text[:500]
        # a declared length above the body limit is refused before any of the body is sent
        parsed = urlparse(server.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        conn.putrequest("POST", "/api/v1/lab-imports/")
        for name, value in {**auth, "Content-Type": "text/csv", "Content-Length": str(10**9)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        declared = conn.getresponse()
        print(f"declared Content-Length 1e9, nothing sent -> {declared.status}")
        assert declared.status == 413
        conn.close()
    assert LabImport.objects.count() == 1
    assert b"Traceback" not in server.stderr


@pytest.fixture
def start_worker(tmp_path):
    """Starts a real worker when called (the test queues its job first); stops it after."""
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": live.test_database_url(), "DJANGO_SECRET_KEY": settings.SECRET_KEY,
           "DJANGO_DEBUG": "0"}  # fmt: skip
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("celery", "unacked", "unacked_index")
    procs: list[subprocess.Popen] = []

    def start() -> Path:
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "registry", "worker", "--pool=solo", "--loglevel=INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"imp-{uuid.uuid4().hex[:6]}@%h"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes() and procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert procs[0].poll() is None and b"ready." in log.read_bytes(), log.read_text()[-3000:]
        return log

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_confirm_runs_in_a_worker_with_progress_in_the_api_and_on_the_page(start_worker, client):
    site = make_site("IMPJ", "Import job site")
    clinician = make_user("imp_clin", site=site, role="clinician")
    codes = [make_patient(site=site, by=clinician).registry_code for _ in range(10)]
    content = lab_csv(codes, 400)  # 12,000 rows
    api = APIClient()
    api.force_authenticate(clinician)
    upload = io.BytesIO(content)
    upload.name = "big.csv"
    started = time.monotonic()
    created = api.post("/api/v1/lab-imports/", {"file": upload}, format="multipart")
    assert created.status_code == 201, created.content[:500]
    import_id = created.json()["id"]
    print(f"\nupload + preview of {len(content):,} bytes ({created.json()['row_count']} rows): "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip

    started = time.monotonic()
    confirm = api.post(f"/api/v1/lab-imports/{import_id}/confirm/")
    assert confirm.status_code == 202, confirm.content[:500]
    assert confirm.json()["job"]["status"] == "queued"  # no worker runs yet
    print(f"confirm answered 202 in {time.monotonic() - started:.2f} s")
    client.force_login(clinician)
    waiting = client.get(f"/imports/labs/{import_id}/progress/").content.decode()
    assert "Waiting for a worker: 0% of 12000 rows." in waiting
    pages = [waiting]
    start_worker()
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/lab-imports/{import_id}/").json()["job"]
        if not seen or seen[-1] != (job["status"], job["percent"]):
            seen.append((job["status"], job["percent"]))
        if job["status"] in ("done", "failed"):
            break
        page = client.get(f"/imports/labs/{import_id}/progress/")
        pages.append(page.content.decode())
        time.sleep(0.3)
    print(f"job states seen through the API: {seen}; done after {time.monotonic() - started:.1f} s")
    assert seen[-1] == ("done", 100), seen
    assert LabResult.objects.filter(source="import").count() == 12_000
    assert LabImport.objects.get(public_id=import_id).status == LabImport.Status.IMPORTED
    job = LabImportJob.objects.get(lab_import__public_id=import_id)
    assert job.status == "done" and job.processed == 12_000 and job.finished_at is not None
    assert any('http-equiv="refresh"' in p and "<progress" in p for p in pages), "no progress page while running"
    done_page = client.get(f"/imports/labs/{import_id}/progress/").content.decode()
    assert "Imported 12000 lab results." in done_page and 'http-equiv="refresh"' not in done_page
    # confirming again neither imports twice nor fails
    again = api.post(f"/api/v1/lab-imports/{import_id}/confirm/")
    assert again.status_code == 400 or again.json()["job"]["status"] == "done"
    assert LabResult.objects.filter(source="import").count() == 12_000
