"""An integrator's view: generate a Python client with openapi-python-client from the
schema the live server publishes (fetched without a token), then run a short flow
through it with no hand-written HTTP: register a patient, record a lab that raises an
alert, read the registry-wide alert list, PATCH with the ETag as If-Match, and see a
stale If-Match come back as the declared 412 body."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from registry.tokens import token_issue
from tests import live
from tests.factories import make_site, make_user

BIN = Path(sys.executable).parent
PACKAGE = "registry_api_client"


@pytest.fixture
def generated(transactional_db, tmp_path):
    clinician = make_user("gen_clin", site=make_site("GENA", "Generated A"), role="clinician")
    key = token_issue(user=clinician)[1]
    with live.gunicorn(workers=1) as server:
        config = tmp_path / "config.yaml"
        config.write_text(f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n")
        result = subprocess.run(
            [str(BIN / "openapi-python-client"), "generate", "--url", f"{server.url}/api/schema/?format=json",
             "--output-path", str(tmp_path / PACKAGE), "--meta", "none", "--config", str(config)],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        sys.path.insert(0, str(tmp_path))
        try:
            yield importlib.import_module(PACKAGE), server.url, key
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
                del sys.modules[name]
    assert b"Traceback" not in server.stderr, server.stderr.decode(errors="replace")[-3000:]


def _module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.mark.live
def test_generated_client_flow(generated):
    package, url, key = generated
    api = lambda name: _module(package, f"api.{name}")  # noqa: E731
    models = _module(package, "models")
    client = package.AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)

    created = api("patients.v1_patients_create").sync_detailed(
        client=client,
        body=models.PatientCreateRequest(
            site="GENA",
            sex=models.SexEnum.FEMALE,
            birth_date=dt.date(1988, 4, 2),
            family_name="Generated",
            given_name="Client",
            mrn="GEN-1",
        ),
    )
    assert created.status_code == 201, created.content
    patient = created.parsed
    assert patient.mrn == "GEN-1" and created.headers["etag"] == '"1"'

    lab = api("labs.v1_patients_labs_create").sync_detailed(
        patient.id,
        client=client,
        body=models.LabCreateRequest(
            analyte="triglycerides", value=1200.0, unit="mg/dL", collected_on=dt.date.today() - dt.timedelta(days=2)
        ),
    )
    assert lab.status_code == 201 and lab.headers["etag"] == '"1"'

    alerts = api("alerts.v1_alerts_list").sync(client=client, severity=models.V1AlertsListSeverity.CRITICAL)
    assert [(a.rule, a.patient) for a in alerts.results] == [("TG_SEVERE", patient.id)]

    changed = api("patients.v1_patients_partial_update").sync_detailed(
        patient.id,
        client=client,
        body=models.PatchedPatientUpdateRequest(change_reason="Name spelled as on the ID card", given_name="Klient"),
        if_match=created.headers["etag"],
    )
    assert changed.status_code == 200 and changed.parsed.given_name == "Klient"
    assert changed.headers["etag"] == '"2"'

    stale = api("patients.v1_patients_partial_update").sync_detailed(
        patient.id,
        client=client,
        body=models.PatchedPatientUpdateRequest(change_reason="Second edit from an old copy", given_name="Other"),
        if_match=created.headers["etag"],
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Conflict) and stale.parsed.current.version == 2

    corrected = api("labs.v1_patients_labs_partial_update").sync_detailed(
        patient.id,
        lab.parsed.id,
        client=client,
        body=models.PatchedLabUpdateRequest(change_reason="Transcription error", value=120.0),
        if_match=lab.headers["etag"],
    )
    assert corrected.status_code == 200 and corrected.parsed.value == 120.0
