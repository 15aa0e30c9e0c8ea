"""A patient's change history as clinicians read it: changes and views on separate tabs,
filters by record type and user, one page at a time or as a CSV download."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinical import history
from clinical.selectors import history as sel
from clinical.views.common import query_keep
from registry import access
from registry.audit import audit_record
from registry.models import AuditEvent

PAGE_SIZE = 100


def _rows(request: HttpRequest, patient, events: list[AuditEvent]) -> list[history.HistoryRow]:
    user_ids, site_ids = history.referenced_ids(events)
    return history.history_rows(
        events,
        records=sel.history_records(patient=patient, events=events),
        users=sel.users_by_id(user_ids),
        sites=sel.sites_by_id(site_ids),
        system=request.user.unit_system,
        record_types=sel.RECORD_TYPES,
    )


def _csv(request: HttpRequest, patient, events) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{patient.registry_code}-history.csv"'
    writer = csv.writer(response)
    writer.writerow(["when_utc", "who", "action", "record", "record_type", "field", "before", "after", "reason"])
    for row in _rows(request, patient, list(events)):
        when = row.at.strftime("%Y-%m-%d %H:%M:%S")
        base = [when, row.who, row.action, row.record, row.record_type]
        if not row.changes:
            writer.writerow([*base, "", "", "", row.reason])
        for ch in row.changes:
            writer.writerow([*base, ch.label, ch.before, ch.after, row.reason])
    # The download carries identity values: it is an access of its own.
    audit_record(user=request.user, action=AuditEvent.Action.EXPORT, obj=patient, patient=patient, reason="history CSV")
    return response


@login_required
@require_GET
def patient_history(request: HttpRequest, public_id) -> HttpResponse:
    patient = access.patient_for_user(request.user, public_id)
    if not access.can_see_identity(request.user, patient):
        raise Http404("No such patient.")  # the trail holds identity values
    tab = "views" if request.GET.get("tab") == "views" else "changes"
    record_type = request.GET.get("type", "")
    record_type = record_type if record_type in sel.RECORD_TYPES else ""
    raw_user = request.GET.get("user", "")
    user_id = int(raw_user) if raw_user.isdigit() else None
    events = sel.history_events(patient=patient, views=tab == "views", record_type=record_type, user_id=user_id)
    if request.GET.get("format") == "csv":
        return _csv(request, patient, events)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "clinical/patient_history.html",
        {
            "patient": patient,
            "page": page,
            "rows": _rows(request, patient, list(page.object_list)),
            "tab": tab,
            "record_type": record_type,
            "user_id": user_id,
            "record_types": [(k, label) for k, (label, _) in sel.RECORD_TYPES.items()],
            "authors": sel.history_authors(patient=patient),
            "query_keep": query_keep(request),
            "tab_keep": query_keep(request, "tab"),
        },
    )
