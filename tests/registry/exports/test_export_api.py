"""The export API, the page, the task, the command and the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry import db_router
from registry.exports import services
from registry.exports.models import ExportJob
from registry.models import AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db

API = "/api/v1/exports/"


def _start(client, user, django_capture_on_commit_callbacks, **body):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):  # the task runs on commit
        response = client.post(API, json.dumps({"format": "csv", "k": 2, **body}), content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


def test_researcher_starts_follows_and_downloads_an_export(
    client, cohort, researcher_a, django_capture_on_commit_callbacks
):
    created = _start(client, researcher_a, django_capture_on_commit_callbacks, format="parquet", dates="relative")
    assert created["status"] in {"queued", "done"} and created["filters"]["dates"] == "relative"
    status = client.get(f"{API}{created['id']}/").json()
    assert status["status"] == "done" and status["progress"] == 100
    assert status["counts"]["patients"] == 6 and status["download_url"].endswith("/download/")
    response = client.get(status["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == status["sha256"] == response["X-Content-SHA256"]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert {"patients.parquet", "labs.parquet", "data_dictionary.csv", "manifest.json"} <= set(zf.namelist())
    # audited: who, filters, counts, checksum
    event = AuditEvent.objects.get(action="export", object_id=created["id"])
    assert event.user == researcher_a
    assert event.changes["counts"]["patients"] == 6 and event.changes["filters"]["dates"] == "relative"
    assert list(event.changes["sha256"].values()) == [status["sha256"]]
    # listed among the user's jobs
    assert [j["id"] for j in client.get(API).json()["results"]] == [created["id"]]


def test_another_user_cannot_see_or_download_an_export(
    client, cohort, researcher_a, site_a, django_capture_on_commit_callbacks
):
    created = _start(client, researcher_a, django_capture_on_commit_callbacks)
    for other in (
        make_user("res_other", site=site_a, role="researcher"),
        make_user("admin_x", site=site_a, role="registry_admin"),
    ):
        client.force_login(other)
        assert client.get(f"{API}{created['id']}/").status_code == 404
        assert client.get(f"{API}{created['id']}/download/").status_code == 404
        assert client.get(API).json()["results"] == []
        assert client.get(f"/exports/{created['id']}/").status_code == 404
    client.logout()
    assert client.get(f"{API}{created['id']}/download/").status_code in {401, 403}


def test_clinician_cannot_export_a_site_they_are_not_a_member_of(client, cohort, clinician_a):
    client.force_login(clinician_a)
    response = client.post(API, json.dumps({"format": "csv", "sites": ["SITEB"]}), content_type="application/json")
    assert response.status_code == 400
    assert "SITEB" in response.json()["errors"]["sites"][0]
    assert not ExportJob.objects.exists()
    response = client.post(API, json.dumps({"format": "xml"}), content_type="application/json")
    assert response.status_code == 400 and "format" in response.json()["errors"]


def test_expired_exports_are_gone(client, cohort, researcher_a, settings, django_capture_on_commit_callbacks):
    created = _start(client, researcher_a, django_capture_on_commit_callbacks)
    job = ExportJob.objects.get(public_id=created["id"])
    assert job.expires_at - job.finished_at == dt.timedelta(hours=settings.EXPORT_LIFETIME_HOURS)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"{API}{created['id']}/download/").status_code == 410
    assert services.exports_expire() == 1
    assert not (settings.EXPORT_DIR / job.file).exists()
    assert client.get(f"{API}{created['id']}/").json()["status"] == "expired"


def test_a_queued_job_is_not_downloadable_and_runs_once(client, cohort, researcher_a):
    from registry.exports.cohort import ExportOptions

    job = services.export_job_create(
        user=researcher_a, options=ExportOptions(format="fhir", k=2)
    )  # not committed: queued
    client.force_login(researcher_a)
    assert client.get(f"{API}{job.public_id}/download/").status_code == 409
    assert services.export_job_run(job.pk).status == "done"
    assert services.export_job_run(job.pk) is None  # a second delivery finds it claimed
    assert AuditEvent.objects.filter(action="export", object_id=str(job.public_id)).count() == 1


def test_the_page_starts_an_export_and_shows_its_progress(
    client, cohort, researcher_a, django_capture_on_commit_callbacks
):
    client.force_login(researcher_a)
    page = client.get("/exports/")
    assert page.status_code == 200 and b"New export" in page.content and b"<script>" not in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/exports/", {"format": "phenopackets", "dates": "shifted", "project": "default", "k": "2"}
        )
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert b'id="export-progress"' in detail.content and b"js/exports.js" in detail.content
    assert b"data-status-url=" in detail.content
    bad = client.post("/exports/", {"format": "csv", "dates": "shifted", "project": "Bad Name", "k": "1"})
    assert bad.status_code == 200 and b"Nothing was saved" in bad.content


def test_researcher_api_serves_no_free_text(client, cohort, researcher_a, clinician_a):
    patient = cohort.patients[0]
    base = f"/api/v1/patients/{patient.public_id}"
    for user, visible in ((clinician_a, True), (researcher_a, False)):
        client.force_login(user)
        visit = client.get(f"{base}/visits/").json()["results"][0]
        course = client.get(f"{base}/treatments/").json()["results"][0]
        dx = client.get(f"{base}/diagnoses/").json()["results"]
        alerts = client.get(f"{base}/alerts/?status=acknowledged").json()["results"]
        detail = client.get(f"{base}/visits/{visit['id']}/").json()
        text = json.dumps([visit, course, dx, alerts, detail])
        assert ("VISITNOTE" in text) is visible and ("INJNOTE" in text) is visible
        assert ("COURSENOTE" in text) is visible and ("DOSEWHY" in text) is visible
        assert ("DXNOTE" in text) is visible
        if alerts:
            assert ("ACKNOTE" in text) is visible
        assert ("notes" in visit) is visible and ("notes" in course) is visible


def test_command_writes_each_format_and_prints_the_paths(tmp_path, cohort, capsys):
    for fmt, expected in (
        ("csv", ".zip"),
        ("parquet", ".zip"),
        ("fhir", "Observation.ndjson"),
        ("phenopackets", ".json"),
    ):
        out = tmp_path / fmt
        call_command("export_research", "--format", fmt, "--out", str(out), "--k", "2", "--no-progress")
        printed = capsys.readouterr().out.split()
        assert printed and all(Path(p).is_file() for p in printed)
        assert any(p.endswith(expected) for p in printed)
        assert str(out) in printed[0]
    assert AuditEvent.objects.filter(action="export").count() == 4
    job = ExportJob.objects.filter(format="csv").get()
    assert job.requester is None and len(job.sha256) == 64 and job.output == str(tmp_path / "csv")


def test_command_filters_and_scope(tmp_path, cohort, clinician_a):
    out = tmp_path / "x"
    call_command("export_research", "--format", "csv", "--out", str(out), "--site", "SITEA", "--subtype", "FPLD2",
                 "--from", "2020-01-01", "--to", "2022-12-31", "--dates", "relative", "--k", "2", "--no-progress")  # fmt: skip
    with zipfile.ZipFile(next(out.glob("*.zip"))) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"]["patients"] == 6
    assert manifest["filters"] == {"project": "default", "sites": ["SITEA"], "subtypes": ["FPLD2"], "from": "2020-01-01",
                                   "to": "2022-12-31", "dates": "relative", "k": 2}  # fmt: skip
    with pytest.raises(CommandError, match="SITEB"):
        call_command("export_research", "--format", "csv", "--out", str(out), "--user", clinician_a.username,
                     "--site", "SITEB", "--no-progress")  # fmt: skip
    with pytest.raises(CommandError):
        call_command("export_research", "--format", "csv", "--out", str(out), "--from", "yesterday")


@pytest.mark.django_db(transaction=True)
def test_exports_read_from_the_replica_when_one_is_configured(tmp_path, cohort, registry_admin, settings):
    """The replica alias points at the same test database under another name; the export's
    queries run on that connection."""
    from django.db.utils import load_backend

    from .conftest import run_export

    with db_router.reading_from_replica() as alias:
        assert alias == "default"  # no replica configured: the primary
    config = {**connections["default"].settings_dict}
    settings.DATABASES = {**settings.DATABASES, "replica": config}
    replica = load_backend(config["ENGINE"]).DatabaseWrapper(config, "replica")
    connections["replica"] = replica
    try:
        with db_router.reading_from_replica() as alias:
            assert alias == "replica"
            assert db_router.ReplicaRouter().db_for_read(ExportJob) == "replica"
        assert db_router.ReplicaRouter().db_for_read(ExportJob) is None  # only export reads move
        with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections["default"]) as on_default:
            entries = run_export(tmp_path, registry_admin, "csv", k=2)
        assert any("registry_patient" in q["sql"] for q in on_replica.captured_queries)
        assert not any("registry_patient" in q["sql"] for q in on_default.captured_queries)
        assert json.loads(entries["manifest.json"])["counts"]["patients"] == 8
    finally:
        replica.close()
        del connections["replica"]
