"""SECURITY.md item 23: the audit trail is append-only and hash-chained, and
``verify_audit`` detects tampering. Item 21: deleting a record never rewrites its trail."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from registry import audit_chain
from registry.audit import audit_record
from registry.models import AuditEvent, Patient
from tests.factories import make_patient, make_site, make_user

TABLE = AuditEvent._meta.db_table


# --- the chain as pure logic (no database) ------------------------------------------------


def _rows(n: int) -> list[dict]:
    rows, prev = [], audit_chain.GENESIS
    for i in range(1, n + 1):
        row = {
            "id": i,
            "at": dt.datetime(2026, 1, 1, 12, 0, i, 123456, tzinfo=dt.UTC),
            "user_id": 7,
            "action": "view",
            "model": "registry.Patient",
            "object_id": f"obj-{i}",
            "patient_id": 3,
            "changes": {"b": [1, 2], "a": ["x", None]},
            "reason": "",
        }
        row["prev_hash"] = prev
        row["hash"] = prev = audit_chain.row_hash(row, prev)
        rows.append(row)
    return rows


def test_canonical_form_ignores_key_order_and_time_zone():
    row = _rows(1)[0]
    shuffled = {**row, "changes": {"a": ["x", None], "b": [1, 2]}}
    shuffled["at"] = row["at"].astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert audit_chain.canonical(shuffled) == audit_chain.canonical(row)
    assert audit_chain.row_hash(row, audit_chain.GENESIS) != audit_chain.row_hash(row, "1" * 64)


@pytest.mark.parametrize(
    ("field", "value"),
    [("reason", "edited"), ("changes", {"a": ["y", None]}), ("user_id", 8), ("object_id", "obj-x"), ("id", 99)],
)
def test_verify_names_the_first_changed_row(field, value):
    rows = _rows(5)
    assert audit_chain.verify(rows).intact and audit_chain.verify(rows).rows == 5
    rows[2][field] = value
    verdict = audit_chain.verify(rows)
    assert not verdict.intact and verdict.broken_id == (99 if field == "id" else 3)


def test_verify_detects_a_removed_or_inserted_row():
    rows = _rows(5)
    del rows[1]
    assert audit_chain.verify(rows).broken_id == 3
    rows = _rows(5)
    rows.insert(2, {**rows[2], "id": 10})
    assert not audit_chain.verify(rows).intact


# --- the database ----------------------------------------------------------------------


@pytest.fixture
def trail(patient_a, clinician_a):
    for _ in range(3):
        audit_record(user=clinician_a, action="view", obj=patient_a, patient=patient_a)
    return AuditEvent.objects.order_by("id")


@pytest.mark.django_db
def test_rows_are_chained_in_id_order(trail):
    rows = list(trail.values("id", "prev_hash", "hash"))
    assert rows[0]["prev_hash"] == audit_chain.GENESIS
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["prev_hash"] == before["hash"] and len(after["hash"]) == 64
    assert audit_chain.verify().intact


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET reason = 'rewritten'",
        f"DELETE FROM {TABLE}",
        f"TRUNCATE {TABLE}",
        f"TRUNCATE {TABLE} CASCADE",
        f"TRUNCATE {TABLE}, registry_auditeventpatient",
    ],
)
def test_the_database_refuses_update_delete_and_truncate(trail, sql):
    count = trail.count()
    # A plain TRUNCATE is refused before the trigger runs: the patient index of the trail
    # (registry_auditeventpatient) references it. With the index named too, the trigger says no.
    refused = "append-only|referenced in a foreign key constraint" if sql == f"TRUNCATE {TABLE}" else "append-only"
    with pytest.raises(DatabaseError, match=refused), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the test transaction's deferred FK checks
        cur.execute(sql)
    assert trail.count() == count
    assert not AuditEvent.objects.filter(reason="rewritten").exists()


@pytest.mark.django_db
def test_the_orm_cannot_update_or_delete_either(trail):
    event = trail.first()
    event.reason = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk, reason="").exists()


@pytest.mark.django_db
def test_deleting_a_patient_never_touches_its_trail(trail, patient_a):
    count = trail.filter(patient=patient_a).count()
    with pytest.raises(ProtectedError):
        Patient.objects.filter(pk=patient_a.pk).delete()
    assert trail.filter(patient=patient_a).count() == count


def _tamper(sql: str, params: list) -> None:
    """What an attacker with the table owner's rights does: lift the guard, rewrite, restore."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # (the test's own deferred FK checks)
        cur.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_append_only_row")
        cur.execute(sql, params)
        cur.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_append_only_row")


@pytest.mark.django_db
def test_verify_audit_passes_an_intact_chain_and_names_the_tampered_row(trail):
    out = StringIO()
    call_command("verify_audit", stdout=out)
    total = AuditEvent.objects.count()
    assert f"intact: {total} rows" in out.getvalue()

    victim = trail[1]
    _tamper(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["nothing to see", victim.pk])
    out = StringIO()
    with pytest.raises(CommandError, match=rf"broken at row id {victim.pk}: its content"):
        call_command("verify_audit", stdout=out)
    assert "BROKEN" in out.getvalue()


@pytest.mark.django_db
def test_verify_audit_catches_a_deleted_row(trail):
    victim = trail[1]
    successor = trail[2]
    _tamper(f"DELETE FROM {TABLE} WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError, match=rf"row id {successor.pk}: its previous-hash link"):
        call_command("verify_audit", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    """Without the lock two transactions read the same head and both link to it."""
    site = make_site("FORK", "Fork", "FR")
    user = make_user("forker", site=site)
    patient = make_patient(site=site, by=user)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for _ in range(10):
                with transaction.atomic():
                    audit_record(user=user, action="view", obj=patient, patient=patient)
                    audit_record(user=user, action="view", obj=patient, patient=patient)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert AuditEvent.objects.filter(patient=patient, action="view").count() == 80
    prevs = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prevs) == len(set(prevs)), "two rows link to the same predecessor: a fork"
    assert audit_chain.verify().intact


@pytest.mark.django_db(transaction=True)
def test_a_write_that_locks_the_patient_first_does_not_deadlock_with_one_that_audits_first():
    """Lock order is chain first, rows after. Without it: A holds the chain lock and waits
    for the patient row, B holds the patient row (patient_update) and waits for the chain:
    PostgreSQL aborts one of them."""
    import time

    from clinical.services.outbox import patient_mark_for_evaluation
    from registry.services import patient_update

    site = make_site("LOCK", "Lock", "FR")
    user = make_user("locker", site=site)
    patient = make_patient(site=site, by=user)
    audited = threading.Event()
    errors: list[BaseException] = []

    def audit_then_mark() -> None:  # the shape of every clinical write
        try:
            with transaction.atomic():
                audit_record(user=user, action="view", obj=patient, patient=patient)
                audited.set()
                time.sleep(1.0)  # B is now waiting, holding whatever it took first
                patient_mark_for_evaluation(patient)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def update_patient() -> None:
        try:
            audited.wait(10)
            patient_update(patient=patient, by=user, reason="typo", expected_version=None, sex="male")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=audit_then_mark), threading.Thread(target=update_patient)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    patient.refresh_from_db()
    assert patient.sex == "male"
    assert AuditEvent.objects.filter(patient=patient, action="update", reason="typo").exists()
    assert audit_chain.verify().intact
