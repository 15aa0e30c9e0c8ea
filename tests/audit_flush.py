"""Tests that use the transactional database reset it with TRUNCATE between tests; the
audit table refuses TRUNCATE, so the reset (and only it) lifts the guard for its own
transaction. Tests of the guard itself run inside ordinary tests."""

from __future__ import annotations

from django.db.backends.postgresql.operations import DatabaseOperations

TABLE = "registry_auditevent"
_original = DatabaseOperations.execute_sql_flush


def _execute_sql_flush(self, sql_list):
    if any(TABLE in sql for sql in sql_list):
        sql_list = [
            f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_append_only_truncate",
            *sql_list,
            f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_append_only_truncate",
        ]
    return _original(self, sql_list)


def install() -> None:
    DatabaseOperations.execute_sql_flush = _execute_sql_flush
