"""The patient chart: identity (where allowed), latest labs, courses, visits, alerts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinical import catalogue, selectors
from clinical.selectors import dashboard
from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent

ALERTS_PANEL = "clinical/alerts/_panel.html"


@login_required
@require_GET
def patient_chart(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id)
    chart = selectors.patient_chart(user=request.user, patient=patient)
    audit_record(user=request.user, action=AuditEvent.Action.VIEW, obj=patient, patient=patient)
    return render(
        request,
        "clinical/patient_chart.html",
        {
            "patient": patient,
            "chart": chart,
            "can_write": access.can_write(request.user, patient),
            "alerts": selectors.patient_open_alerts(patient=patient, status=request.GET.get("status", "")),
            "alert_status": request.GET.get("status", ""),
            "alerts_panel": ALERTS_PANEL,
            "subtypes": catalogue.SUBTYPES,
            "response_summaries": [
                dashboard.summary_display(s, request.user.unit_system)
                for s in dashboard.course_summaries(patient=patient)
            ],
        },
    )
