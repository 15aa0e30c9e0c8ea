"""The change and access audit trail: one function writes every row.

Services call :func:`audit_record` inside their transaction, so a change and its audit
row commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.db import models

from registry.models import AuditEvent


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


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def audit_record(
    *, user, action: str, obj: models.Model, patient=None, changes: dict | None = None, reason: str = ""
) -> AuditEvent:
    return AuditEvent.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        model=obj._meta.label,
        object_id=str(getattr(obj, "public_id", None) or obj.pk),
        patient=patient,
        changes=changes or {},
        reason=reason,
    )


def audit_record_many(*, user, action: str, objects, patient_of, reason: str = "", batch_size: int = 2000) -> int:
    """Bulk form of :func:`audit_record` for bulk writes (a lab import): one create row
    per object, written in batches inside the caller's transaction."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    rows = [
        AuditEvent(
            user_id=uid,
            action=action,
            model=obj._meta.label,
            object_id=str(getattr(obj, "public_id", None) or obj.pk),
            patient_id=patient_of(obj),
            changes=diff({}, snapshot(obj)) if action == "create" else {},
            reason=reason,
        )
        for obj in objects
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)
