"""The alert lifecycle of RULES.md section 5: how one evaluation's candidates move the
stored alerts of a patient between open, acknowledged, resolved and withdrawn.

Every evaluation replays the rules over the record as it now stands, so the stored
alerts are brought in line with the candidates:

- found and not stored: a new open alert;
- found and stored: message and evidence updated; a withdrawn alert (the evidence was
  corrected back) or a resolved state alert opens again; an acknowledged alert whose
  value changed opens again (the clinician acknowledged a different value);
- stored, open or acknowledged, and no longer found: a state rule resolves, an event rule
  is withdrawn with the reason, who and when (the correction or deletion behind it, read
  from the audit trail). Nothing is deleted.

:func:`plan_alerts` is pure and works on :class:`AlertRow` (the stored fields of an alert
as plain data, no model instance); :func:`withdrawal_reasons` reads the audit trail once
for a whole chunk.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from clinical import alerts
from clinical.models import AlertStatus
from registry.models import AuditEvent, AuditEventPatient


@dataclass(slots=True, eq=False)
class AlertRow:
    """The fields of one ``Alert`` row that an evaluation reads or writes (attribute names
    are the model's ``attname``s); ``id`` None: not stored yet."""

    patient_id: int
    rule: str
    subject_key: str
    severity: str = ""
    severity_rank: int = 2
    status: str = AlertStatus.OPEN.value
    message: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    observed_on: dt.date | None = None
    lab_result_id: int | None = None
    course_id: int | None = None
    dose_change_id: int | None = None
    visit_id: int | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by_id: int | None = None
    acknowledge_note: str = ""
    resolved_at: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = None
    withdrawn_by_id: int | None = None
    withdrawn_reason: str = ""
    id: int | None = None
    public_id: uuid.UUID | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


# Every stored field of an alert: what a new row is inserted with, and (less the row's
# identity and creation) what an update may change.
ALERT_FIELDS = tuple(f for f in AlertRow.__dataclass_fields__ if f != "id")
ALERT_UPDATE_FIELDS = tuple(
    f for f in ALERT_FIELDS if f not in ("patient_id", "rule", "subject_key", "public_id", "created_at")
)

# Params that move with the calendar rather than with the evidence (the age of a course):
# a change in them is not "a different value" and does not reopen an acknowledged alert.
VOLATILE_PARAMS: dict[str, frozenset[str]] = {"METRELEPTIN_LOSS_OF_EFFECT": frozenset({"days"})}

# The evidence kinds of the audit trail, for the reason of a withdrawal.
_MODEL_NOUN = {
    "clinical.LabResult": "lab result",
    "clinical.LabImport": "lab result",  # one event for all the results of an import
    "clinical.Visit": "visit",
    "clinical.TreatmentCourse": "treatment course",
    "clinical.DoseChange": "dose change",
    "registry.Diagnosis": "diagnosis",
}
_ACTION_VERB = {"create": "added", "update": "corrected", "delete": "deleted"}


@dataclass
class Plan:
    create: list[AlertRow] = field(default_factory=list)
    update: list[AlertRow] = field(default_factory=list)
    withdraw: list[AlertRow] = field(default_factory=list)  # also in ``update``; reasons filled later
    created: int = 0
    updated: int = 0
    reopened: int = 0
    resolved: int = 0


def value_params(rule: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The params that carry the alert's value (what an acknowledgement saw)."""
    skip = VOLATILE_PARAMS.get(rule, frozenset())
    return {k: v for k, v in (params or {}).items() if k not in skip}


def _reopen(row: AlertRow) -> None:
    row.status = AlertStatus.OPEN
    row.resolved_at = None
    row.acknowledged_at, row.acknowledged_by_id, row.acknowledge_note = None, None, ""
    row.withdrawn_at, row.withdrawn_by_id, row.withdrawn_reason = None, None, ""


def plan_alerts(
    pid: int,
    candidates: list[alerts.AlertCandidate],
    fields_of: Any,
    existing: dict[tuple[str, str], AlertRow],
    now: dt.datetime,
) -> Plan:
    """The inserts and updates that bring one patient's alerts in line with ``candidates``
    (``fields_of(candidate)`` gives the stored fields of a candidate)."""
    plan = Plan()
    wanted = set()
    for c in candidates:
        key = (c.rule, c.subject_key)
        wanted.add(key)
        fields = fields_of(c)
        row = existing.get(key)
        if row is None:
            plan.create.append(AlertRow(patient_id=pid, rule=c.rule, subject_key=c.subject_key, **fields))
            continue
        changed = any(getattr(row, k) != v for k, v in fields.items())
        value_changed = value_params(row.rule, row.params) != value_params(c.rule, fields["params"])
        state = c.rule in alerts.STATE_RULES
        if row.status == AlertStatus.WITHDRAWN or (row.status == AlertStatus.RESOLVED and state):
            # Found again (evidence corrected back, condition holds again): the same row opens.
            _reopen(row)
            plan.reopened += 1
            changed = True
        elif row.status == AlertStatus.ACKNOWLEDGED and value_changed and not state:
            _reopen(row)
            plan.reopened += 1
            changed = True
        elif changed:
            plan.updated += 1
        if changed:
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = now
            plan.update.append(row)
    for key, row in existing.items():
        if key in wanted or row.status in (AlertStatus.RESOLVED, AlertStatus.WITHDRAWN):
            continue
        if row.rule in alerts.STATE_RULES:
            row.status, row.resolved_at, row.updated_at = AlertStatus.RESOLVED, now, now
            plan.resolved += 1
        else:
            row.status, row.withdrawn_at, row.updated_at = AlertStatus.WITHDRAWN, now, now
            plan.withdraw.append(row)
        plan.update.append(row)
    plan.created = len(plan.create)
    return plan


def _who(event: AuditEvent) -> str:
    return event.user.get_username() if event.user is not None else "the system"


def withdrawal_reasons(rows: list[AlertRow], today: dt.date) -> None:
    """Fill ``withdrawn_reason`` and ``withdrawn_by`` of alerts being withdrawn from the
    audit trail (three queries for the whole chunk, none when nothing is withdrawn).

    The evidence's own latest correction or deletion explains it best ("evidence corrected
    on 2024-05-03 by j.smith: transcription error"); a windowed decision withdrawn by other
    data (a late month-12 value) names the latest change to the patient's record."""
    if not rows:
        return
    keys = {row.subject_key.split(":", 1)[1] for row in rows if ":" in row.subject_key}
    latest_of: dict[str, AuditEvent] = {}
    if keys:
        for event in (
            AuditEvent.objects.filter(object_id__in=keys, action__in=["update", "delete"])
            .select_related("user")
            .order_by("object_id", "-at", "-id")
        ):
            latest_of.setdefault(event.object_id, event)
    pids = {row.patient_id for row in rows}
    latest_change: dict[int, AuditEvent] = {}
    for event in (
        AuditEvent.objects.filter(
            patient_id__in=pids, model__in=list(_MODEL_NOUN), action__in=["create", "update", "delete"]
        )
        .select_related("user")
        .order_by("patient_id", "-at", "-id")
        .distinct("patient_id")
        if _distinct_on()
        else _latest_per_patient(pids)
    ):
        latest_change.setdefault(event.patient_id, event)
    # A lab import is one event for all its patients, found through its patient index.
    for link in AuditEventPatient.objects.filter(
        patient_id__in=pids, event__model__in=list(_MODEL_NOUN), event__action__in=["create", "update", "delete"]
    ).select_related("event__user"):
        known = latest_change.get(link.patient_id)
        if known is None or (link.event.at, link.event.pk) > (known.at, known.pk):
            latest_change[link.patient_id] = link.event
    for row in rows:
        key = row.subject_key.split(":", 1)[1] if ":" in row.subject_key else ""
        event = latest_of.get(key)
        if event is not None:
            verb = "deleted" if event.action == "delete" else "corrected"
            text = f"evidence {verb} on {event.at.date().isoformat()} by {_who(event)}"
        else:
            event = latest_change.get(row.patient_id)
            if event is not None:
                noun = _MODEL_NOUN.get(event.model, "record")
                text = (
                    f"no longer found after a {noun} was {_ACTION_VERB.get(event.action, 'changed')} "
                    f"on {event.at.date().isoformat()} by {_who(event)}"
                )
            else:
                text = f"no longer found when the record was evaluated again on {today.isoformat()}"
        if event is not None and event.reason:
            text += f": {event.reason}"
        row.withdrawn_reason = text
        row.withdrawn_by_id = event.user_id if event is not None else None


def _distinct_on() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _latest_per_patient(pids: set[int]) -> list[AuditEvent]:
    """SQLite has no DISTINCT ON: the latest change per patient, one query each."""
    out = []
    for pid in pids:
        event = (
            AuditEvent.objects.filter(
                patient_id=pid, model__in=list(_MODEL_NOUN), action__in=["create", "update", "delete"]
            )
            .select_related("user")
            .order_by("-at", "-id")
            .first()
        )
        if event is not None:
            out.append(event)
    return out
