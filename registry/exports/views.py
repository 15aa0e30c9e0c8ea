"""The research export page: a form, the user's jobs, and a job page whose progress bar
polls the API (``static/js/exports.js``; no inline script under the CSP)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from clinical.forms import apply_errors, error_list
from registry import access
from registry.exports import selectors, services
from registry.exports.forms import ExportForm

RECENT_JOBS = 20


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    if not access.export_sites_for_user(request.user).exists():
        raise PermissionDenied("Your account has no site whose data you may export.")
    form = ExportForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.export_job_create(user=request.user, options=form.options())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect("export-detail", export_id=job.public_id)
    jobs = list(selectors.export_jobs_for_user(request.user)[:RECENT_JOBS])
    return render(request, "exports/page.html", {"form": form, "jobs": jobs, "forms_with_errors": error_list(form)})


@login_required
@require_GET
def export_detail(request: HttpRequest, export_id) -> HttpResponse:
    job = selectors.export_job_for_user(request.user, export_id)
    ready = selectors.export_job_file(job) is not None
    return render(
        request,
        "exports/detail.html",
        {
            "job": job,
            "ready": ready,
            "status_url": reverse("api-export", kwargs={"export_id": job.public_id}),
            "download_url": reverse("api-export-download", kwargs={"export_id": job.public_id}),
        },
    )
