from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinical import selectors


@login_required
@require_GET
def patient_list(request):
    qs = selectors.patient_list(user=request.user, search=request.GET.get("q", "").strip())
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "clinical/patient_list.html", {"page": page})
