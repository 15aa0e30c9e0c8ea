"""Thin Celery tasks: they take ids (JSON only) and call ``clinical.evaluation``, which
also answers which patients to evaluate (no queries here).

Every task body is idempotent (alerts are unique per patient, rule and subject; snapshots
and course responses are kept in line with the record; a patient whose inputs, rules and
date are unchanged is skipped), so the evaluating tasks acknowledge late and are re-queued
if the worker dies. The nightly recompute fans the registry out in chunks of
``DEFAULT_CHUNK_SIZE`` patients: big enough that the per-chunk queries and the message are
a small part of a chunk, small enough that two worker processes finish close together.
Only a lost database connection is retried, with exponential backoff; a message whose
worker keeps dying is parked after a few deliveries (ops/task_base.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from clinical.evaluation import (
    all_patient_ids,
    dirty_patient_ids,
    monitoring_patient_ids,
    patient_evaluate,
    patients_evaluate,
)

log = logging.getLogger(__name__)

# Connection loss (and the deadlock or lock timeout PostgreSQL reports the same way). An
# IntegrityError is not transient: retrying the same data fails the same way; the flag
# stays set and the sweep evaluates the patient again from fresh data.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
RETRY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 5,
}
IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}

DEFAULT_CHUNK_SIZE = 500
SWEEP_BATCH = 1000
SWEEP_GRACE_SECONDS = 30


def chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for i in ids:
        chunk.append(int(i))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@shared_task(name="clinical.tasks.evaluate_patient", **IDEMPOTENT, **RETRY)
def evaluate_patient(patient_id: int) -> None:
    """Recompute trends and alerts of one patient."""
    patient_evaluate(patient_id=int(patient_id))


@shared_task(name="clinical.tasks.evaluate_patients", **IDEMPOTENT, **RETRY)
def evaluate_patients(patient_ids: list[int], force: bool = False) -> int:
    """Evaluate a chunk of patients in this worker (one message per chunk, not per patient),
    with a bounded number of queries for the whole chunk; ``force``: unchanged ones too."""
    return patients_evaluate(patient_ids=[int(pid) for pid in patient_ids], force=bool(force)).patients


@shared_task(name="clinical.tasks.sweep_dirty_patients", **IDEMPOTENT, **RETRY)
def sweep_dirty_patients(older_than_seconds: int = SWEEP_GRACE_SECONDS, limit: int = SWEEP_BATCH) -> int:
    """Evaluate patients still flagged a while after their write (the enqueue was lost,
    e.g. Redis was down). Runs in this worker: lost messages are rare."""
    ids = dirty_patient_ids(older_than=timezone.now() - dt.timedelta(seconds=older_than_seconds), limit=limit)
    for chunk in chunks(ids, DEFAULT_CHUNK_SIZE):
        patients_evaluate(patient_ids=chunk)
    if ids:
        log.info("sweep evaluated %d flagged patients", len(ids))
    return len(ids)


def fan_out(ids: Iterable[int], chunk_size: int = DEFAULT_CHUNK_SIZE, force: bool = False) -> int:
    """Publish one ``evaluate_patients`` message per chunk; returns the number of chunks."""
    n = 0
    for chunk in chunks(ids, chunk_size):
        if force:
            evaluate_patients.delay(chunk, True)
        else:
            evaluate_patients.delay(chunk)
        n += 1
    return n


@shared_task(name="clinical.tasks.recompute_registry", **IDEMPOTENT)
def recompute_registry(chunk_size: int = DEFAULT_CHUNK_SIZE, force: bool = False) -> int:
    """Nightly: every patient, in chunks fanned out to the workers (those whose inputs,
    rules and date are unchanged are skipped unless ``force``). The id scan reads the
    replica when one is configured (a registry-wide read that tolerates lag)."""
    from registry.db_router import reading_from_replica

    with reading_from_replica():
        return fan_out(all_patient_ids(), chunk_size, force=bool(force))


@shared_task(name="clinical.tasks.check_monitoring_overdue", **IDEMPOTENT)
def check_monitoring_overdue(chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Daily: re-evaluate the patients whose monitoring can fall overdue with time alone."""
    return fan_out(monitoring_patient_ids(timezone.localdate()), chunk_size)


@shared_task(name="clinical.tasks.purge_stale_lab_imports", **IDEMPOTENT)
def purge_stale_lab_imports() -> int:
    """Drop the content of lab files left unconfirmed past the retention period."""
    from clinical.import_retention import lab_imports_purge_stale

    return lab_imports_purge_stale()
