"""Reads of identifying data in the audit trail, and the per-patient "who saw and changed
this record" listing built from it.

A search by name or MRN is recorded without its text (the text is itself identifying):
only that a search happened, where, and how many patients it found.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from registry import access, audit_chain
from registry.models import AuditEvent, Patient, Role
from registry.selectors import patient_audit_events

SEARCH_MODEL = "registry.PatientIdentity"


def identity_search_record(*, user, where: str, results: int) -> AuditEvent:
    event = AuditEvent(
        at=timezone.now(),
        user=user if getattr(user, "is_authenticated", False) else None,
        action=AuditEvent.Action.SEARCH,
        model=SEARCH_MODEL,
        object_id="",
        changes={"results": [None, int(results)]},
        reason=where,
    )
    audit_chain.append(event)
    return event


def may_read_access_log(user, patient: Patient) -> bool:
    """Site leads of the patient's site, registry administrators and superusers."""
    scope = access.scope_for(user)
    return scope.all_sites or scope.roles.get(patient.home_site_id) == Role.SITE_LEAD


def patient_access_log(*, patient: Patient) -> QuerySet[AuditEvent]:
    """Every audit row about ``patient``: views, creates, updates, deletes, exports, and
    the lab imports that wrote results for the patient (one event per import)."""
    return patient_audit_events(patient=patient).select_related("user").order_by("-at", "-id")
