"""schemathesis against the live server: gunicorn on loopback, PostgreSQL, a seeded
database, once with a clinician token and once with a researcher token. Every phase
runs: the schema's examples, coverage (boundary and negative values of every
parameter), fuzzing, and stateful sequences that follow the schema's OpenAPI links
(create, then read and update with the ETag as If-Match). The hooks
(tests/schemathesis_hooks.py) draw real ids and send the current ETag as If-Match, so
updates get past 428/412. No 5xx, and every response conforms to the schema (status
codes, content types, bodies, headers); a missing required header (If-Match) is refused
and no operation works without credentials. Bounded (examples per operation and a time
budget per phase) so that it runs in CI in a few minutes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.exports.cohort import ExportOptions
from registry.exports.services import export_job_create
from registry.tokens import token_issue
from tests import live
from tests.factories import make_course, make_lab, make_patient, make_site, make_user, make_visit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "missing_required_header",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
    ]
)
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")
# Seconds per role for fuzzing and stateful testing (they repeat until it is spent).
MAX_TIME = os.environ.get("SCHEMATHESIS_MAX_TIME", "75")


def _seed() -> tuple[tuple[str, str], list[dict[str, str]]]:
    """Two sites with patients, visits, labs, courses and alerts; returns the clinician's
    and the researcher's API keys and the real ids the hooks draw paths from."""
    site_a, site_b = make_site("LIVEA", "Live A"), make_site("LIVEB", "Live B")
    clinician = make_user("live_clin", site=site_a, role="clinician")
    researcher = make_user("live_res", site=site_a, role="researcher")
    other = make_user("live_clin_b", site=site_b, role="clinician")
    real_ids = []
    for i in range(3):
        patient = make_patient(site=site_a, by=clinician, mrn=f"LIVE{i}")
        visit = make_visit(patient=patient, by=clinician, visit_date=dt.date(2023, 1, 5), weight_kg=60, height_cm=165)
        for day, tg in ((dt.date(2023, 1, 1), 12), (dt.date(2023, 7, 1), 6)):
            make_lab(patient=patient, value=tg, unit="mmol/L", collected_on=day, by=clinician)
        course = make_course(patient=patient, start_date=dt.date(2023, 1, 2), dose=5, by=clinician)
        real_ids.append(_ids(patient, visit=visit, course=course))
    other_patient = make_patient(site=site_b, by=other, mrn="LIVEB1")
    real_ids.append(_ids(other_patient))
    # Export jobs (built on commit, in-process here): the clinician's and the researcher's.
    for user in (clinician, researcher):
        job = export_job_create(user=user, options=ExportOptions(format="csv", k=2))
        real_ids.append({"export_id": str(job.public_id)})
    return (token_issue(user=clinician)[1], token_issue(user=researcher)[1]), real_ids


def _ids(patient, *, visit=None, course=None) -> dict[str, str]:
    from clinical.models import Alert

    ids = {"patient_id": str(patient.public_id)}
    lab = patient.lab_results.first()
    alert = Alert.objects.filter(patient=patient).first()
    for key, obj in (("visit_id", visit), ("course_id", course), ("lab_id", lab), ("alert_id", alert)):
        if obj is not None:
            ids[key] = str(obj.public_id)
    return ids


@pytest.fixture
def live_server_url(transactional_db):
    keys, real_ids = _seed()
    with live.gunicorn(workers=2, env={"API_THROTTLE_RATE": "1000000/hour"}) as server:
        yield server.url, keys, real_ids
    if b"Traceback" in server.stderr:
        print(server.stderr.decode(errors="replace")[-5000:])


def _run(url: str, key: str, real_ids: list[dict[str, str]], report_dir: Path) -> subprocess.CompletedProcess:
    # One worker thread: with two, hypothesis's lambda descriptions call ast.parse from
    # both threads, which CPython 3.11 can fail with "SystemError: AST constructor
    # recursion depth mismatch" (a crash of the tool, reported as an error of whichever
    # operation it was generating). The phases are bounded by time, not by threads.
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(ROOT / "tests" / "schemathesis_hooks.py"),
        "REGISTRY_REAL_IDS": json.dumps(real_ids),
        "REGISTRY_API_URL": url,
        "REGISTRY_API_AUTH": f"Bearer {key}",
    }
    return subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{url}/api/schema/?format=json", "--url", url,
         "-H", f"Authorization: Bearer {key}", "--checks", CHECKS, "--max-examples", MAX_EXAMPLES,
         "--phases", "examples,coverage,fuzzing,stateful", "--max-time", MAX_TIME, "--workers", "1",
         "--seed", "1", "--no-color", "--request-timeout", "30", "--wait-for-schema", "60", "--suppress-health-check", "all",
         "--report", "ndjson", "--report-dir", str(report_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.live
def test_schemathesis_clinician_and_researcher(live_server_url, tmp_path):
    url, (clinician_key, researcher_key), real_ids = live_server_url
    for who, key in (("clinician", clinician_key), ("researcher", researcher_key)):
        result = _run(url, key, real_ids, tmp_path / who)
        if result.returncode != 0:
            Path(f"/tmp/schemathesis-{who}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"{who}:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
        statuses = _statuses(tmp_path / who)
        if who == "clinician":
            # The If-Match hook and the links get updates past 428/412 to a real change.
            updated = {
                op.split()[0] for (op, status) in statuses if status == 200 and op.split()[0] in ("PUT", "PATCH")
            }
            assert updated == {"PUT", "PATCH"}, sorted(statuses)
        else:
            writes = {status for (op, status) in statuses if op.split()[0] in ("POST", "PUT", "PATCH", "DELETE")}
            assert not writes & {200, 201, 204}, sorted(statuses)


def _statuses(report_dir: Path) -> set[tuple[str, int]]:
    """(``METHOD /path``, status) pairs of every response in the run's NDJSON report."""
    seen: set[tuple[str, int]] = set()
    for report in report_dir.glob("*.ndjson"):
        for line in report.read_text().splitlines():
            for method, path, status in _responses(json.loads(line)):
                seen.add((f"{method} {path}", status))
    return seen


def _responses(event: dict):
    """(method, path template, status) of each request a ScenarioFinished event recorded."""
    recorder = event.get("ScenarioFinished", {}).get("recorder", {})
    cases = recorder.get("cases", {})
    for case_id, interaction in (recorder.get("interactions") or {}).items():
        case = cases.get(case_id, {}).get("value", {})
        response = interaction.get("response") or {}
        if case and "status_code" in response:
            yield case["method"].upper(), case["path"], response["status_code"]
