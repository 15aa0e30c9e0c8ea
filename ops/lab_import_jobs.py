"""Confirming a lab import in the background: a large file takes longer than a web
request may (gunicorn's timeout), so confirm creates a ``LabImportJob`` and a worker runs
``clinical.services.lab_import.lab_import_confirm`` (all rows or none). The page and the API poll the
job; its progress (percent and phase) is kept in the cache, which the import's
transaction does not hide, and the job's final state in the database.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinical.models import LabImport
from clinical.services import lab_import
from ops.models import LabImportJob

log = logging.getLogger(__name__)
Status = LabImportJob.Status
# the import's statements (COPY of every row, the checks of its foreign keys) may run long in a worker
JOB_STATEMENT_TIMEOUT_MS = 15 * 60 * 1000
REQUEUE_AFTER = dt.timedelta(minutes=2)


def _progress_key(job_id: int) -> str:
    return f"lab-import-job:{job_id}:progress"


def set_progress(job_id: int, percent: int, phase: str) -> None:
    cache.set(_progress_key(job_id), {"percent": percent, "phase": phase}, 6 * 3600)


def job_for(lab_import: LabImport) -> LabImportJob | None:
    return LabImportJob.objects.filter(lab_import=lab_import).first()


def job_state(job: LabImportJob | None) -> dict | None:
    if job is None:
        return None
    state = {"status": job.status, "percent": 0, "phase": "", "message": job.message, "total_rows": job.total,
             "imported_rows": job.processed, "created_at": job.created_at, "finished_at": job.finished_at}  # fmt: skip
    if job.status == Status.DONE:
        state.update(percent=100, phase="done")
    elif job.status == Status.FAILED:
        state.update(phase="failed")
    elif job.status == Status.QUEUED:
        state.update(phase="waiting for a worker")
    else:
        state.update(cache.get(_progress_key(job.pk)) or {"percent": 5, "phase": "validating the file again"})
    return state


def start(*, lab_import: LabImport, by, skip_existing: bool = False, confirm_unusual: bool = False) -> LabImportJob:
    """Queue the confirmation of a previewed import (a second click returns the same job)."""
    if lab_import.status != LabImport.Status.PREVIEWED:
        raise ValidationError({"status": [f"This import is {lab_import.get_status_display().lower()}."]})
    job, created = LabImportJob.objects.get_or_create(
        lab_import=lab_import,
        defaults={
            "requested_by": by,
            "total": lab_import.row_count,
            "skip_existing": skip_existing,
            "confirm_unusual": confirm_unusual,
        },
    )
    if not created and job.status != Status.FAILED:
        return job
    if not created:  # a failed attempt (the file was refused, or the database went away): try again
        LabImportJob.objects.filter(pk=job.pk).update(
            status=Status.QUEUED,
            message="",
            requested_by=by,
            skip_existing=skip_existing,
            confirm_unusual=confirm_unusual,
        )
    enqueue(job.pk)
    job.refresh_from_db()
    return job


def enqueue(job_id: int) -> bool:
    from ops.tasks import confirm_lab_import

    try:
        confirm_lab_import.delay(job_id)
        return True
    except Exception as exc:  # broker down: the heartbeat task queues it again later
        log.warning("could not queue lab import job %s (%s); it will be retried", job_id, type(exc).__name__)
        return False


def requeue_waiting() -> int:
    """Jobs still queued a while after confirm (their message was lost): queue them again."""
    ids = list(
        LabImportJob.objects.filter(status=Status.QUEUED, created_at__lte=timezone.now() - REQUEUE_AFTER).values_list(
            "pk", flat=True
        )
    )
    for job_id in ids:
        enqueue(job_id)
    return len(ids)


def run_job(job_id: int) -> None:
    """The worker's side. Safe to run twice: a finished import is not imported again."""
    job = LabImportJob.objects.select_related("lab_import", "requested_by").get(pk=job_id)
    record = job.lab_import
    if job.status == Status.DONE:
        return
    if record.status == LabImport.Status.IMPORTED:  # redelivered after the import committed
        _finish(job, Status.DONE, imported=record.imported_count)
        return
    LabImportJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, message="")
    set_progress(job.pk, 5, "validating the file again")
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {int(JOB_STATEMENT_TIMEOUT_MS)}")
            record, _plan = lab_import.lab_import_confirm(
                lab_import=record,
                by=job.requested_by,
                skip_existing=job.skip_existing,
                confirm_unusual=job.confirm_unusual,
                progress=lambda percent, phase: set_progress(job.pk, percent, phase),
            )
    except ValidationError as exc:
        _finish(job, Status.FAILED, message=" ".join(exc.messages))
        return
    _finish(job, Status.DONE, imported=record.imported_count)
    log.info("lab import job %s imported %d rows", job.pk, record.imported_count)


def _finish(job: LabImportJob, status: str, *, imported: int = 0, message: str = "") -> None:
    LabImportJob.objects.filter(pk=job.pk).update(
        status=status, processed=imported, message=message[:500], finished_at=timezone.now()
    )
    cache.delete(_progress_key(job.pk))
