"""The per-patient "who saw and changed this record" page and its CSV export, for site
leads of the patient's site and registry administrators."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from registry import access
from registry.access_audit import may_read_access_log, patient_access_log
from registry.audit import audit_record
from registry.models import AuditEvent

CSV_HEADER = ["at_utc", "user", "action", "record_type", "record_id", "fields", "reason"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _patient(request: HttpRequest, public_id):
    patient = access.patient_for_user(request.user, public_id)
    if not may_read_access_log(request.user, patient):
        raise PermissionDenied("Only the site lead and registry administrators see who opened this record.")
    return patient


def _row(e: AuditEvent) -> list[str]:
    return [
        e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        e.user.username if e.user else "system",
        e.action,
        e.model,
        e.object_id,
        " ".join(sorted(e.changes)),
        e.reason,
    ]


def _cell(value: str) -> str:
    # Spreadsheets run a cell starting with these as a formula.
    return "'" + value if value.startswith(FORMULA_START) else value


@login_required
@require_GET
def patient_access_log_page(request: HttpRequest, public_id) -> HttpResponse:
    patient = _patient(request, public_id)
    page = Paginator(patient_access_log(patient=patient), 100).get_page(request.GET.get("page"))
    return render(request, "registry/access_log.html", {"patient": patient, "page": page})


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def patient_access_log_csv(request: HttpRequest, public_id) -> StreamingHttpResponse:
    patient = _patient(request, public_id)
    events = patient_access_log(patient=patient)
    audit_record(
        user=request.user,
        action=AuditEvent.Action.EXPORT,
        obj=patient,
        patient=patient,
        changes={"rows": [None, events.count()]},
        reason="access log CSV",
    )
    writer = csv.writer(_Echo())
    rows = (writer.writerow([_cell(v) for v in _row(e)]) for e in events.iterator(chunk_size=2000))
    response = StreamingHttpResponse(
        (line for chunk in ([writer.writerow(CSV_HEADER)], rows) for line in chunk), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="access-log-{patient.registry_code}.csv"'
    return response


urlpatterns = [
    path("patients/<uuid:public_id>/access-log/", patient_access_log_page, name="patient-access-log"),
    path("patients/<uuid:public_id>/access-log.csv", patient_access_log_csv, name="patient-access-log-csv"),
]
