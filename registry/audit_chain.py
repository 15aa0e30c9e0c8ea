"""The hash chain of the audit trail: every row carries the previous row's hash and its
own, a SHA-256 over a canonical serialisation of the row.

Rows are appended one writer at a time: on PostgreSQL under a transaction-level advisory
lock, so two transactions never read the same "last hash" and the chain cannot fork. The
id comes from the table's sequence *after* the lock is held, so id order is chain order
and :func:`verify` can walk the table by id. SQLite serialises writers by itself.

Tampering is caught by :func:`verify`: a changed row no longer matches its own hash, a
removed or inserted row breaks the link to its successor. (Rows removed from the very end
are caught only against a head hash kept elsewhere: ``verify_audit`` prints it.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

GENESIS = "0" * 64
# Any constant shared by every writer; the text spells "audit" so it is recognisable in pg_locks.
LOCK_KEY = 0x61756469_74
HASHED_FIELDS = ("id", "at", "user_id", "action", "model", "object_id", "patient_id", "changes", "reason")


def _at(value: dt.datetime | str) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict[str, Any]) -> bytes:
    """One row as bytes that do not depend on the database's key order or spacing."""
    plain = {name: row.get(name) for name in HASHED_FIELDS}
    plain["at"] = _at(row["at"])
    plain["changes"] = row.get("changes") or {}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def row_hash(row: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(row)).hexdigest()


# --- writing ----------------------------------------------------------------------------


def _table() -> str:
    from registry.models import AuditEvent

    return AuditEvent._meta.db_table


def lock() -> None:
    """Take the chain lock now, for the rest of the caller's transaction.

    A write that locks rows (``select_for_update``) and audits afterwards calls this
    first, so every writer takes the chain lock before any row lock: with the opposite
    order in two transactions (chain then patient row, patient row then chain) PostgreSQL
    would abort one of them as a deadlock."""
    if connection.vendor == "postgresql":
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("audit_chain.lock() needs the caller's transaction")
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _lock_and_head(count: int) -> tuple[str, list[int]]:
    """Take the chain lock (held to the end of the caller's transaction) and return the
    current head hash and ``count`` fresh ids in increasing order."""
    table = _table()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            # A separate statement: its snapshot is taken after the lock is granted, so it
            # sees the row the previous holder committed.
            cur.execute(
                f"SELECT (SELECT hash FROM {table} ORDER BY id DESC LIMIT 1), "
                f"ARRAY(SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s))",
                [count],
            )
            head, ids = cur.fetchone()
            return head or GENESIS, sorted(ids)
        cur.execute(f"SELECT id, hash FROM {table} ORDER BY id DESC LIMIT 1")
        last = cur.fetchone()
        last_id, head = (last[0], last[1]) if last else (0, GENESIS)
        return head or GENESIS, list(range(last_id + 1, last_id + 1 + count))


def append(event) -> None:
    """Chain and insert one unsaved ``AuditEvent`` (in the caller's transaction, or in a
    transaction of its own: the lock lasts until the commit)."""
    with transaction.atomic(savepoint=False):
        head, (new_id,) = _lock_and_head(1)
        event.id = new_id
        event.prev_hash = head
        event.hash = row_hash(_row_of(event), head)
        event.save(force_insert=True)


def _row_of(event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


# --- verifying --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    rows: int
    head: str
    broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def _stored_rows(chunk: int = 5000) -> Iterator[dict[str, Any]]:
    from registry.models import AuditEvent

    fields = (*HASHED_FIELDS, "prev_hash", "hash")
    yield from AuditEvent.objects.order_by("id").values(*fields).iterator(chunk_size=chunk)


def verify_patient_links() -> Verdict:
    """An event about several patients lists them in its (chained) changes; the
    ``AuditEventPatient`` rows that let each patient's trail find it must say the same.
    The first event whose rows differ from its list breaks it."""
    from registry.models import AuditEvent, AuditEventPatient

    listed: dict[int, set[int]] = {}
    events = AuditEvent.objects.filter(patient__isnull=True, changes__has_key="patients").order_by("id")
    for event_id, changes in events.values_list("id", "changes").iterator(chunk_size=500):
        pair = changes.get("patients")
        listed[event_id] = set(pair[1]) if isinstance(pair, list) and len(pair) == 2 and pair[1] else set()
    linked: dict[int, set[int]] = {}
    for event_id, patient_id in AuditEventPatient.objects.values_list("event_id", "patient_id").iterator(
        chunk_size=5000
    ):
        linked.setdefault(event_id, set()).add(patient_id)
    for event_id in sorted(set(listed) | set(linked)):
        if listed.get(event_id, set()) != linked.get(event_id, set()):
            return Verdict(len(listed), "", event_id, "its patient index rows do not match the patients it lists")
    return Verdict(len(listed), "")


def verify(rows: Iterable[dict[str, Any]] | None = None) -> Verdict:
    """Walk the chain in id order; the first row whose link or hash is wrong breaks it."""
    prev = GENESIS
    count = 0
    for row in _stored_rows() if rows is None else rows:
        count += 1
        if row["prev_hash"] != prev:
            return Verdict(count, prev, row["id"], "its previous-hash link does not match the row before it")
        if row_hash(row, prev) != row["hash"]:
            return Verdict(count, prev, row["id"], "its content does not match its hash")
        prev = row["hash"]
    return Verdict(count, prev)
