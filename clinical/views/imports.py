"""Lab CSV import in the web UI: upload -> preview (every row's status) -> confirm.

The parsing, validation and the all-or-nothing import live in ``clinical.imports``; these
views only move the file and the report between the browser and that module.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinical import imports, selectors
from clinical.models import LabImport
from clinical.selectors import imports as import_selectors
from clinical.services import lab_import
from ops import lab_import_jobs
from ops.uploads import upload_too_large
from registry import access
from registry.writekit import UploadTooLarge, check_upload_size

PREVIEW_OK_ROWS = 200


def _require_writer(request) -> None:
    if not access.can_write(request.user):
        raise PermissionDenied("Your role does not allow entering lab results.")


@login_required
@require_http_methods(["GET", "POST"])
def lab_import_upload(request):
    _require_writer(request)
    context = {
        "max_bytes": settings.LAB_IMPORT_MAX_BYTES,
        "columns": imports.TEMPLATE_HEADER,
        "analytes": imports.analyte_table(),
    }
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload_too_large(request):
            limit = settings.LAB_IMPORT_MAX_BYTES
            context["error"] = (
                f"The upload was stopped: the limit is {limit:,} bytes. Split the file into smaller files."
            )
            return render(request, "imports/upload.html", context, status=413)
        if upload is None:
            context["error"] = "Choose a CSV file to upload."
            return render(request, "imports/upload.html", context, status=400)
        try:
            check_upload_size(upload.size)
            record, _plan = lab_import.lab_import_upload(user=request.user, filename=upload.name, content=upload.read())
        except UploadTooLarge as exc:
            context["error"] = str(exc)
            return render(request, "imports/upload.html", context, status=413)
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            return render(request, "imports/upload.html", context, status=400)
        return redirect("lab-import-preview", import_id=record.public_id)
    context["recent"] = selectors.recent_lab_imports(user=request.user)
    return render(request, "imports/upload.html", context)


@login_required
@require_GET
def lab_import_template(request):
    response = HttpResponse(imports.TEMPLATE_CSV, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lab-import-template.csv"'
    return response


def _skip_existing(request) -> bool:
    return (request.POST if request.method == "POST" else request.GET).get("skip_existing") == "1"


@login_required
@require_GET
def lab_import_preview(request, import_id):
    record = access.lab_import_for_user(request.user, import_id)
    job = lab_import_jobs.job_for(record)
    if job is not None and job.status in (job.Status.QUEUED, job.Status.RUNNING):
        return redirect("lab-import-progress", import_id=record.public_id)
    skip = _skip_existing(request)
    previewed = record.status == LabImport.Status.PREVIEWED
    plan = imports.lab_import_plan(record, user=request.user, skip_existing=skip) if previewed else None
    context = {"record": record, "plan": plan, "skip_existing": skip}
    if plan is not None:
        rows = plan.report_rows(limit_ok=PREVIEW_OK_ROWS)
        hints = import_selectors.identity_hints(
            user=request.user, patient_ids={r.patient_id for r in rows if r.patient_id}
        )
        context.update(
            rows=[(r, hints.get(r.patient_id, "")) for r in rows],
            show_identity=bool(hints),
            hidden_ok=plan.row_count - len(rows),
            ok_count=plan.row_count - sum(1 for r in plan.rows if r.errors or r.skipped),
            can_confirm=plan.ok,
            unit_suspect_count=plan.unit_suspect_count,
            has_duplicates=any("already recorded" in e for r in plan.rows for e in r.errors),
        )
    elif record.status == LabImport.Status.IMPORTED:
        context.update(
            raised=import_selectors.import_alerts(user=request.user, lab_import=record),
            pending=import_selectors.import_evaluation_pending(user=request.user, lab_import=record),
        )
    return render(request, "imports/preview.html", context)


@login_required
@require_POST
def lab_import_confirm(request, import_id):
    _require_writer(request)
    record = access.lab_import_for_user(request.user, import_id)
    try:
        # runs in a worker
        job = lab_import_jobs.start(
            lab_import=record,
            by=request.user,
            skip_existing=_skip_existing(request),
            confirm_unusual=request.POST.get("confirm_unusual") == "1",
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("lab-import-preview", import_id=record.public_id)
    job.refresh_from_db()
    if job.status == job.Status.FAILED:
        messages.error(request, job.message)
    elif job.status == job.Status.DONE:
        record.refresh_from_db()
        skipped = record.row_count - record.imported_count if job.skip_existing else 0
        skipped_text = f"; {skipped} identical to stored results skipped" if skipped > 0 else ""
        messages.success(request, f"Imported {record.imported_count} lab results from {record.filename}{skipped_text}.")
    else:
        return redirect("lab-import-progress", import_id=record.public_id)
    return redirect("lab-import-preview", import_id=record.public_id)


@login_required
@require_POST
def lab_import_discard(request, import_id):
    record = access.lab_import_for_user(request.user, import_id)
    lab_import.lab_import_discard(lab_import=record)
    messages.info(request, f"Discarded {record.filename}; nothing was imported.")
    return redirect("lab-import")
