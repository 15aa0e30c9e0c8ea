"""Writes on alerts made by people: acknowledge, reopen (the engine itself lives in
``clinical.evaluation``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinical.models import Alert, AlertStatus, Severity
from registry import audit_chain
from registry.audit import audit_record, diff, snapshot
from registry.writekit import clean_note

ACK_FIELDS = ["status", "acknowledged_at", "acknowledged_by_id", "acknowledge_note"]


def alert_acknowledge(*, alert: Alert, by, note: str = "") -> Alert:
    """Open -> acknowledged (who, when, note). Acknowledging twice keeps the first.

    A note over the limit is refused (ValidationError on ``note``), never cut short."""
    note = clean_note(note)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = Alert.objects.select_for_update().get(pk=alert.pk)
        if current.status == AlertStatus.RESOLVED:
            raise ValidationError({"status": ["This alert is already resolved."]})
        if current.status == AlertStatus.WITHDRAWN:
            raise ValidationError({"status": [f"This alert was withdrawn ({current.withdrawn_reason})."]})
        if current.status == AlertStatus.ACKNOWLEDGED:
            return current
        if current.severity == Severity.CRITICAL and not note.strip():
            raise ValidationError({"note": ["A critical alert needs a note saying what was done about it."]})
        before = snapshot(current, ACK_FIELDS)
        current.status = AlertStatus.ACKNOWLEDGED
        current.acknowledged_at = timezone.now()
        current.acknowledged_by = by
        current.acknowledge_note = note
        current.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledge_note", "updated_at"])
        audit_record(
            user=by,
            action="update",
            obj=current,
            patient=current.patient,
            changes=diff(before, snapshot(current, ACK_FIELDS)),
            reason=current.acknowledge_note,
        )
    return current


def alert_reopen(*, alert: Alert, by, reason: str) -> Alert:
    """Acknowledged -> open again, with the reason in the audit trail (the earlier
    acknowledgement stays there too)."""
    reason = clean_note(reason)
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the alert is reopened."]})
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        current = Alert.objects.select_for_update().get(pk=alert.pk)
        if current.status != AlertStatus.ACKNOWLEDGED:
            raise ValidationError({"status": ["Only an acknowledged alert can be reopened."]})
        before = snapshot(current, ACK_FIELDS)
        current.status = AlertStatus.OPEN
        current.acknowledged_at = None
        current.acknowledged_by = None
        current.acknowledge_note = ""
        current.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "acknowledge_note", "updated_at"])
        audit_record(
            user=by,
            action="update",
            obj=current,
            patient=current.patient,
            changes=diff(before, snapshot(current, ACK_FIELDS)),
            reason=f"reopened: {reason}",
        )
    return current
