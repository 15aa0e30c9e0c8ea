"""The alert worklist (/alerts/) and acknowledging an alert in place."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from clinical import selectors, services
from clinical.alerts import RULE_CHOICES
from clinical.models import AlertStatus, Severity
from clinical.selectors import alert_groups
from clinical.views.common import query_keep
from registry import access

PAGE_SIZE = 50


@login_required
@require_GET
def alert_worklist(request: HttpRequest) -> HttpResponse:
    user = request.user
    if access.is_researcher_only(user):
        raise PermissionDenied("The alert worklist is for clinical roles.")
    filters = selectors.WorklistFilters.from_query(request.GET)
    alerts = selectors.alert_worklist(user=user, filters=filters)
    # One row per patient and rule (count, latest value and date; the rest expand).
    page = Paginator(alert_groups.group_keys(alerts), PAGE_SIZE).get_page(request.GET.get("page"))
    groups = alert_groups.groups_for(alerts, list(page.object_list))
    rows = []
    for g in groups:
        p = g.latest.patient
        rows.append(
            {
                "group": g,
                "alert": g.latest,
                "can_write": access.can_write(user, p),
                "show_identity": access.can_see_identity(user, p),
            }
        )
    return render(
        request,
        "clinical/alerts/worklist.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "query_keep": query_keep(request),
            "severities": Severity.choices,
            "statuses": [*AlertStatus.choices, ("all", "All")],
            "rules": RULE_CHOICES,
            "sites": list(access.sites_for_user(user)),
            "observed_choices": [(k, label) for k, (label, _days) in selectors.OBSERVED_WITHIN.items()],
            "alert_count": sum(len(g.alerts) for g in groups),
        },
    )


def _next_url(request: HttpRequest) -> str:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}, require_https=False):
        return nxt
    return reverse("alert-worklist")


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, public_id) -> HttpResponse:
    alert = access.alert_for_user(request.user, public_id)  # 404: not yours or no such alert
    if not access.can_write(request.user, alert.patient):
        raise PermissionDenied("You cannot acknowledge alerts of this patient.")
    note = request.POST.get("note", "")  # the service refuses one that is too long
    try:
        alert = services.alert_acknowledge(alert=alert, by=request.user, note=note)
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for m in msgs:
                messages.error(request, m)
        return HttpResponseRedirect(_next_url(request))
    messages.success(request, f"Alert acknowledged for {alert.patient.registry_code}.")
    return HttpResponseRedirect(_next_url(request))


@login_required
@require_POST
def alert_reopen(request: HttpRequest, public_id) -> HttpResponse:
    alert = access.alert_for_user(request.user, public_id)
    if not access.can_write(request.user, alert.patient):
        raise PermissionDenied("You cannot reopen alerts of this patient.")
    try:
        alert = services.alert_reopen(alert=alert, by=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for m in msgs:
                messages.error(request, m)
        return HttpResponseRedirect(_next_url(request))
    messages.success(request, f"Alert reopened for {alert.patient.registry_code}.")
    return HttpResponseRedirect(_next_url(request))
