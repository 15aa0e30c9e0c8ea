"""The patient list (search, filters, sort, one page)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinical import catalogue, selectors
from clinical.selectors.patients import sort_caption
from clinical.views.common import query_keep
from registry import access
from registry.access_audit import identity_search_record

PAGE_SIZE = 50


def _filters(request: HttpRequest) -> selectors.PatientFilters:
    g = request.GET
    subtype = g.get("subtype", "")
    return selectors.PatientFilters(
        q=g.get("q", "").strip()[:100],
        subtype=subtype if subtype in catalogue.SUBTYPES else "",
        site=g.get("site", "").strip()[:16],
        metreleptin=g.get("metreleptin") == "1",
        alerts=g.get("alerts") == "1",
        sort=g.get("sort", "registry_code"),
    )


@login_required
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    filt = _filters(request)
    qs = selectors.patient_list(user=request.user, filters=filt)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.patient_rows(user=request.user, patients=list(page.object_list))
    if filt.q and access.can_see_identity(request.user):  # a name / MRN search: its text is not kept
        identity_search_record(user=request.user, where="patient list", results=page.paginator.count)
    return render(
        request,
        "clinical/patient_list.html",
        {
            "page": page,
            "rows": rows,
            "filters": filt,
            "sort_caption": sort_caption(filt.sort),
            "query_keep": query_keep(request),
            "sort_base": query_keep(request, "sort"),
            "subtypes": catalogue.SUBTYPE_CHOICES,
            "can_write": access.can_write(request.user),
            "lab_names": [catalogue.ANALYTES[a].name for a in selectors.LIST_ANALYTES],
        },
    )
