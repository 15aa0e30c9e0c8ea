"""Thin Celery tasks: they take ids and call services. Bodies are idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="clinical.tasks.evaluate_patient", acks_late=True, reject_on_worker_lost=True)
def evaluate_patient(patient_id: int) -> None:
    """Recompute trends and alerts of one patient (filled in by the alert engine)."""
    from clinical.evaluation import patient_evaluate

    patient_evaluate(patient_id=patient_id)
