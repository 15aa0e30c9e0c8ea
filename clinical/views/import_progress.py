"""The page that follows a lab import running in the background (``ops.lab_import_jobs``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from ops import lab_import_jobs
from registry import access


@login_required
@require_GET
def lab_import_progress(request, import_id):
    record = access.lab_import_for_user(request.user, import_id)
    job = lab_import_jobs.job_for(record)
    if job is None:
        return redirect("lab-import-preview", import_id=record.public_id)
    state = lab_import_jobs.job_state(job)
    running = state["status"] in ("queued", "running")
    return render(request, "imports/progress.html", {"record": record, "state": state, "running": running})
