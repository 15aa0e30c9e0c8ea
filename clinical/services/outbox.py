"""The evaluation outbox: a write flags its patient, the worker evaluates it.

Every clinical or registry write calls :func:`patient_mark_for_evaluation` inside its
transaction; the flag (``Patient.needs_evaluation``) is the outbox and the message sent on
commit only a hint, so a lost message is caught up by the periodic sweep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from registry.models import Patient

log = logging.getLogger(__name__)

_batch = threading.local()


@contextmanager
def evaluations_batched() -> Iterator[None]:
    """Within the block, writes still flag their patients, but each flagged patient's
    evaluation is enqueued once, on commit after the block, instead of once per write
    (bulk loads such as the demo seed write dozens of rows per patient)."""
    if getattr(_batch, "ids", None) is not None:  # nested: the outer block enqueues
        yield
        return
    _batch.ids = ids = {}
    try:
        yield
    finally:
        _batch.ids = None
    if ids:
        transaction.on_commit(lambda ids=list(ids): enqueue_evaluations(ids))


def patient_mark_for_evaluation(patient: Patient) -> None:
    """Flag the patient in the current transaction; enqueue the evaluation on commit.

    The flag is the outbox: if the enqueue is lost (broker down), the periodic sweep
    finds the patient and evaluates it.
    """
    now = timezone.now()
    Patient.objects.filter(pk=patient.pk).update(needs_evaluation=True, dirty_since=now)
    patient_id = patient.pk
    batch = getattr(_batch, "ids", None)
    if batch is not None:
        batch[patient_id] = None
        return
    transaction.on_commit(lambda: enqueue_evaluation(patient_id))


def patients_mark_for_evaluation(patient_ids: Iterable[int]) -> None:
    """Bulk form of :func:`patient_mark_for_evaluation` (one UPDATE; on commit, one
    evaluation message per chunk of patients) for bulk writes such as a lab import."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    Patient.objects.filter(pk__in=ids).update(needs_evaluation=True, dirty_since=timezone.now())
    batch = getattr(_batch, "ids", None)
    if batch is not None:
        batch.update(dict.fromkeys(ids))
        return
    transaction.on_commit(lambda: enqueue_evaluations(ids))


def enqueue_evaluations(patient_ids: list[int]) -> bool:
    """Publish the evaluation of several patients: one ``evaluate_patients`` message per
    chunk, evaluated with a bounded number of queries per chunk. Never raises."""
    if len(patient_ids) == 1:
        return enqueue_evaluation(patient_ids[0])
    from clinical.tasks import fan_out

    try:
        fan_out(patient_ids)
        return True
    except Exception:  # broker unreachable: the flags stay set, the sweep catches up
        log.warning(
            "could not enqueue evaluation of %d patients; the sweep will pick them up", len(patient_ids), exc_info=True
        )
        return False


def enqueue_evaluation(patient_id: int) -> bool:
    """Publish ``evaluate_patient``; never raises (the sweep covers a lost message)."""
    from clinical.tasks import evaluate_patient

    try:
        evaluate_patient.delay(patient_id)
        return True
    except Exception:  # broker unreachable: the write has committed, the sweep catches up
        log.warning("could not enqueue evaluation of patient %s; the sweep will pick it up", patient_id, exc_info=True)
        return False
