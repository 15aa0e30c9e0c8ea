"""Backups with ``pg_dump -Fc`` and restores with ``pg_restore``, plus the restore drill.

A backup is two files in ``settings.BACKUP_DIR``: ``registry-<UTC time>.dump`` (custom
format) and ``registry-<UTC time>.json``, its manifest: the row count of every table,
counted in the very snapshot ``pg_dump`` exported (``--snapshot``), so a restore of that
dump must reproduce them exactly, however busy the database was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections
from psycopg import sql

PREFIX = "registry-"
DRILL_PREFIX = "restore_drill_"


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """One PostgreSQL database: libpq keywords for psycopg, environment for pg_* tools."""

    host: str
    port: str
    user: str
    password: str
    name: str

    @classmethod
    def from_settings(cls, alias: str = "default") -> Target:
        s = connections[alias].settings_dict
        if not s["ENGINE"].endswith("postgresql"):
            raise BackupError("Backups need PostgreSQL (DATABASE_URL=postgres://...).")
        return cls(s["HOST"] or "127.0.0.1", str(s["PORT"] or 5432), s["USER"] or "", s["PASSWORD"] or "", s["NAME"])

    def with_name(self, name: str) -> Target:
        return Target(self.host, self.port, self.user, self.password, name)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password or None, dbname=self.name,
            connect_timeout=10, **kwargs,
        )  # fmt: skip

    def tool_args(self) -> list[str]:
        return ["-h", self.host, "-p", self.port, "-U", self.user]

    def tool_env(self) -> dict[str, str]:
        env = {**os.environ}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    @property
    def url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgres://{auth}@{self.host}:{self.port}/{self.name}"


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    ]
    return {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0] for t in tables}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(target: Target, directory: Path, *, keep: int = 0) -> tuple[Path, dict]:
    """Dump ``target`` into ``directory``; returns the dump's path and its manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dump = directory / f"{PREFIX}{stamp}.dump"
    partial = dump.with_suffix(".dump.partial")
    started = time.monotonic()
    with target.connect(autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = table_counts(conn)
        # the exported snapshot lives as long as this transaction: pg_dump runs inside it
        result = subprocess.run(
            ["pg_dump", "-Fc", "--no-owner", "--no-privileges", f"--snapshot={snapshot}", "-f", str(partial),
             *target.tool_args(), target.name],
            env=target.tool_env(), capture_output=True, text=True,
        )  # fmt: skip
        conn.rollback()
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    partial.rename(dump)
    manifest = {
        "database": target.name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "file": dump.name,
        "bytes": dump.stat().st_size,
        "sha256": _sha256(dump),
        "seconds": round(time.monotonic() - started, 2),
        "tables": counts,
    }
    dump.with_suffix(".json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if keep:
        for old in backups_in(directory)[:-keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    return dump, manifest


def backups_in(directory: Path) -> list[Path]:
    """Complete backups (dump + manifest), oldest first."""
    return sorted(p for p in directory.glob(f"{PREFIX}*.dump") if p.with_suffix(".json").exists())


def latest_backup(directory: Path) -> Path:
    found = backups_in(directory)
    if not found:
        raise BackupError(f"No backup in {directory} (make backup writes one).")
    return found[-1]


def read_manifest(dump: Path) -> dict:
    return json.loads(dump.with_suffix(".json").read_text())


def restore(dump: Path, target: Target, *, clean: bool = False) -> float:
    """``pg_restore`` into ``target`` in one transaction (all or nothing); returns seconds."""
    if not clean:
        with target.connect(autocommit=True) as conn:
            if table_counts(conn):
                raise BackupError(f"Database {target.name} is not empty: restore into a new database, or pass --clean.")
    manifest = read_manifest(dump)
    if manifest.get("sha256") and _sha256(dump) != manifest["sha256"]:
        raise BackupError(f"{dump.name} does not match its manifest's checksum: the file is damaged.")
    started = time.monotonic()
    args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    result = subprocess.run(
        [*args, *target.tool_args(), "-d", target.name, str(dump)],
        env=target.tool_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    return time.monotonic() - started


def create_database(server: Target, name: str) -> None:
    with server.with_name("postgres").connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(server: Target, name: str) -> None:
    with server.with_name("postgres").connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- the drill ----------------------------------------------------------------------------


@dataclass
class DrillReport:
    dump: Path
    database: str
    steps: list[tuple[str, bool, float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _, _ in self.steps)


def _manage(target: Target, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": target.url}
    env.pop("DATABASE_REPLICA_URL", None)
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def drill(
    source: Target, dump: Path, *, keep_database: bool = False, say: Callable[[str], None] = print
) -> DrillReport:
    """Restore ``dump`` into a fresh, uniquely named database on ``source``'s server and
    check it: migrations complete, row counts equal to the manifest's, audit chain intact
    (when ``verify_audit`` exists). The drill database is dropped afterwards."""
    name = f"{DRILL_PREFIX}{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    report = DrillReport(dump=dump, database=name)
    drilled = source.with_name(name)
    manifest = read_manifest(dump)

    def step(label: str, passed: bool, started: float, detail: str = "") -> None:
        seconds = time.monotonic() - started
        report.steps.append((label, passed, seconds, detail))
        say(f"[{'ok' if passed else 'FAIL'}] {label} ({seconds:.2f} s){': ' + detail if detail else ''}")

    say(f"restore drill: {dump.name} ({manifest['bytes']:,} bytes, taken {manifest['created_at']}) -> {name}")
    t = time.monotonic()
    create_database(source, name)
    try:
        step("create fresh database", True, t, name)
        t = time.monotonic()
        try:
            restore(dump, drilled)
            step("pg_restore", True, t)
        except BackupError as exc:
            step("pg_restore", False, t, str(exc))
            return report

        t = time.monotonic()
        result = _manage(drilled, "migrate", "--check", "--no-input")
        ok = result.returncode == 0
        step("migrate --check", ok, t, "every migration applied" if ok else (result.stdout + result.stderr)[-800:])

        t = time.monotonic()
        with drilled.connect(autocommit=True) as conn:
            restored = table_counts(conn)
        expected = manifest["tables"]
        differences = [
            f"{table}: backup {expected.get(table)} restored {restored.get(table)}"
            for table in sorted(set(expected) | set(restored))
            if expected.get(table) != restored.get(table)
        ]
        rows = sum(restored.values())
        step(
            "row counts",
            not differences,
            t,
            "; ".join(differences) if differences else f"{len(restored)} tables, {rows:,} rows, all equal",
        )
        for table in sorted(restored):
            say(f"    {table:<45} {expected.get(table, '-')!s:>10} {restored[table]:>10}")

        t = time.monotonic()
        if _manage(drilled, "help", "verify_audit").returncode == 0:
            result = _manage(drilled, "verify_audit")
            ok = result.returncode == 0
            step("verify_audit", ok, t, result.stdout.strip()[-300:] if ok else (result.stdout + result.stderr)[-800:])
        else:
            say("[skip] verify_audit: this version has no such command")
        return report
    finally:
        if keep_database:
            say(f"kept {name} ({drilled.url.split('@')[-1]})")
        else:
            t = time.monotonic()
            drop_database(source, name)
            say(f"dropped {name} ({time.monotonic() - t:.2f} s)")
