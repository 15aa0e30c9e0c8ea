"""schemathesis against the live server: gunicorn on loopback, PostgreSQL, a seeded
database, once with a clinician token and once with a researcher token. No 5xx, and
every response conforms to the OpenAPI schema (status codes, content types, bodies,
headers). Bounded (max examples per operation) so that it runs in CI in minutes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    ]
)
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")


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


def _run(url: str, key: str, real_ids: list[dict[str, str]]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(ROOT / "tests" / "schemathesis_hooks.py"),
        "REGISTRY_REAL_IDS": json.dumps(real_ids),
    }
    return subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{url}/api/schema/?format=json", "--url", url,
         "-H", f"Authorization: Bearer {key}", "--checks", CHECKS, "--max-examples", MAX_EXAMPLES,
         "--phases", "examples,fuzzing", "--workers", "2", "--seed", "1", "--no-color",
         "--request-timeout", "30", "--suppress-health-check", "all"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.live
def test_schemathesis_clinician_and_researcher(live_server_url):
    url, (clinician_key, researcher_key), real_ids = live_server_url
    for who, key in (("clinician", clinician_key), ("researcher", researcher_key)):
        result = _run(url, key, real_ids)
        if result.returncode != 0:
            Path(f"/tmp/schemathesis-{who}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"{who}:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
