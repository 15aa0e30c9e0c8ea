"""The change and access audit trail: one function writes every row.

Services call :func:`audit_record` inside their transaction, so a change and its audit
row commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from registry import audit_chain
from registry.models import AuditEvent, AuditEventPatient


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        # format(..., "f"): str(Decimal("320").normalize()) would give "3.2E+2"
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    return value


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The concrete field values of ``obj`` as JSON-safe values."""
    names = fields or [f.attname for f in obj._meta.concrete_fields]
    return {name: _plain(getattr(obj, name)) for name in names}


def actor(by: Any) -> Any:
    """The user to store as author: None for a system write (command, worker, anonymous)."""
    return by if getattr(by, "is_authenticated", False) else None


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def audit_record(
    *, user, action: str, obj: models.Model, patient=None, changes: dict | None = None, reason: str = ""
) -> AuditEvent:
    event = AuditEvent(
        at=timezone.now(),
        user=actor(user),
        action=action,
        model=obj._meta.label,
        object_id=str(getattr(obj, "public_id", None) or obj.pk),
        patient=patient,
        changes=changes or {},
        reason=reason,
    )
    audit_chain.append(event)
    return event


def audit_record_for_patients(
    *, user, action: str, obj: models.Model, patient_ids, changes: dict, reason: str = "", at=None
) -> AuditEvent:
    """One audit event about many patients' records at once (a lab import: one event for
    all its results), in the caller's transaction if there is one. It is chained like every row; its
    ``patient`` is empty, its changes list the patients (``patients``: ``[None, [ids]]``,
    covered by the chain) and :class:`AuditEventPatient` rows index that list, so each
    patient's trail finds the event."""
    ids = sorted(set(patient_ids))
    event = AuditEvent(
        at=at or timezone.now(),
        user=actor(user),
        action=action,
        model=obj._meta.label,
        object_id=str(getattr(obj, "public_id", None) or obj.pk),
        patient=None,
        changes={**changes, "patients": [None, ids]},
        reason=reason,
    )
    with transaction.atomic():  # the event and its index, together
        audit_chain.append(event)
        AuditEventPatient.objects.bulk_create(
            [AuditEventPatient(event_id=event.pk, patient_id=pid) for pid in ids], batch_size=5000
        )
    return event
