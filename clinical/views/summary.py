"""The printable one-page summary of a patient (for letters and team meetings)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinical.selectors.summary import patient_summary
from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent


@login_required
@require_GET
def patient_summary_page(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id)
    summary = patient_summary(user=request.user, patient=patient)
    # The summary shows what the chart shows (identity included where allowed): an access.
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=patient, patient=patient, reason="summary")
    return render(request, "clinical/patient_summary.html", {"patient": patient, "s": summary, "c": summary.chart})
