"""Issue item 6 / SECURITY.md item 30: backup with pg_dump, restore with pg_restore, and
the restore drill, run against the machine's PostgreSQL. The drill creates and drops its
own uniquely named databases; so does this test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from ops import backups
from tests import live
from tests.factories import make_patient, make_site, make_user

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def _env(tmp_path: Path, url: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url or live.test_database_url(),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "0",
        "DRILL_TIMEOUT": str(TIMEOUT),
    }


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT + 60)
    print(f"\n$ {' '.join(cmd)}  -> exit {result.returncode} in {time.monotonic() - started:.1f} s")
    print("\n".join(line for line in result.stdout.splitlines() if not line.startswith("{")))
    return result


def _databases_like(prefix: str) -> set[str]:
    with psycopg.connect(live.test_database_url(), autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"])}


@pytest.fixture
def registry_data():
    site = make_site("BAK", "Backup site")
    clinician = make_user("bak_clin", site=site, role="clinician")
    for _ in range(3):
        make_patient(site=site, by=clinician)


def test_restore_drill_script_backs_up_restores_and_compares(tmp_path, registry_data):
    before = _databases_like(backups.DRILL_PREFIX)
    result = _run(["scripts/restore-drill.sh"], _env(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"\[ok\] backup registry-\S+\.dump", out)
    for step in ("create fresh database", "pg_restore", "migrate --check", "row counts"):
        assert f"[ok] {step}" in out, step
    assert re.search(r"registry_patient\s+3\s+3", out)
    # the audit chain is verified on the restored copy (verify_audit exists in this version)
    assert "[ok] verify_audit" in out, "verify_audit exists in this version: the drill must run it"
    drilled = re.search(r"-> (restore_drill_\w+)", out).group(1)
    assert f"dropped {drilled}" in out
    assert _databases_like(backups.DRILL_PREFIX) == before, "the drill left its database behind"
    assert "restore drill passed" in out


def test_the_drill_fails_when_the_restored_rows_differ_from_the_backup(tmp_path, registry_data):
    env = _env(tmp_path)
    assert _run([sys.executable, "manage.py", "backup"], env).returncode == 0
    dump = backups.latest_backup(tmp_path / "backups")
    manifest = json.loads(dump.with_suffix(".json").read_text())
    manifest["tables"]["registry_patient"] += 1  # as if a row had been lost
    dump.with_suffix(".json").write_text(json.dumps(manifest))
    result = _run([sys.executable, "manage.py", "restore_drill"], env)
    assert result.returncode != 0
    assert "[FAIL] row counts" in result.stdout and "registry_patient: backup 4 restored 3" in result.stdout
    assert "restore drill FAILED (row counts)" in result.stderr
    assert not _databases_like(re.search(r"-> (restore_drill_\w+)", result.stdout).group(1))


def test_restore_into_an_empty_database_and_refuse_a_non_empty_one(tmp_path, registry_data):
    env = _env(tmp_path)
    assert _run([sys.executable, "manage.py", "backup", "--keep", "1"], env).returncode == 0
    assert _run([sys.executable, "manage.py", "backup", "--keep", "1"], env).returncode == 0
    assert len(backups.backups_in(tmp_path / "backups")) == 1  # --keep pruned the older one
    name = f"restore_test_{uuid.uuid4().hex[:8]}"
    server = backups.Target.from_settings()
    backups.create_database(server, name)
    try:
        target_env = _env(tmp_path, server.with_name(name).url)
        restored = _run([sys.executable, "manage.py", "restore"], target_env)
        assert restored.returncode == 0, restored.stderr[-2000:]
        with server.with_name(name).connect() as conn:
            assert conn.execute("SELECT count(*) FROM registry_patient").fetchone()[0] == 3
        again = _run([sys.executable, "manage.py", "restore"], target_env)
        assert again.returncode != 0 and "is not empty" in again.stderr
    finally:
        backups.drop_database(server, name)
