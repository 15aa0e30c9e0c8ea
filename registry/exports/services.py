"""Writes for research exports: create a job, run it, expire old files, export from the
command line. Every finished export leaves an audit event: who, when, filters, counts,
SHA-256 of the file(s)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.utils import timezone

from registry import access
from registry.audit import audit_record
from registry.exports import smallcell
from registry.exports.build import ExportUnavailable, export_build
from registry.exports.cohort import ExportOptions, check_filters
from registry.exports.models import ExportJob
from registry.exports.sinks import DirSink, ZipSink, file_sha256

log = logging.getLogger(__name__)

# Formats whose command output is one zip bundle; the others write plain files.
BUNDLED = {"csv", "parquet"}


def options_from_filters(fmt: str, filters: dict) -> ExportOptions:
    def day(value):
        if value in (None, ""):
            return None
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))

    return ExportOptions(
        format=fmt,
        project=filters.get("project") or "default",
        sites=tuple(filters.get("sites") or ()),
        subtypes=tuple(filters.get("subtypes") or ()),
        date_from=day(filters.get("from")),
        date_to=day(filters.get("to")),
        dates=filters.get("dates") or "shifted",
        k=int(filters.get("k") or smallcell.DEFAULT_K),
    )


def export_job_create(*, user, options: ExportOptions) -> ExportJob:
    """Validate the filters against the user's scope, create the job and queue its build."""
    if not access.export_sites_for_user(user).exists():
        raise PermissionDenied("Your account has no site whose data you may export.")
    if options.format not in ExportJob.Format.values:
        raise ValidationError({"format": [f"Choose one of {', '.join(ExportJob.Format.values)}."]})
    check_filters(user, options)
    from registry.exports.tasks import build_export

    with transaction.atomic():
        job = ExportJob.objects.create(requester=user, format=options.format, filters=options.as_filters())
        transaction.on_commit(lambda: build_export.delay(job.pk))
    return job


class _ProgressSaver:
    """Writes a job's progress on a connection of its own: the export reads inside one
    read-only transaction, whose writes (if it could make any) nobody would see before
    the end."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.connection = None

    def __call__(self, done: int, total: int) -> None:
        if self.connection is None:
            self.connection = connections.create_connection("default")
        with self.connection.cursor() as cur:
            cur.execute(
                f"UPDATE {ExportJob._meta.db_table} SET rows_done = %s, rows_total = %s, progress = %s "
                "WHERE id = %s AND status = %s",
                [done, total, min(99, int(100 * done / max(total, 1))), self.job_id, ExportJob.Status.RUNNING],
            )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def export_job_run(job_id: int) -> ExportJob | None:
    """Build a queued job's file. Claims the job first, so a duplicate delivery does nothing."""
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None
    job = ExportJob.objects.select_related("requester").get(pk=job_id)
    directory = Path(settings.EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{job.public_id}.zip"
    path = directory / name
    saver = _ProgressSaver(job.pk)
    try:
        sink = ZipSink(path)
        try:
            result = export_build(
                user=job.requester,
                options=options_from_filters(job.format, job.filters),
                sink=sink,
                progress=saver,
            )
        finally:
            sink.close()
            saver.close()
    except (ExportUnavailable, ValidationError, PermissionDenied) as exc:
        path.unlink(missing_ok=True)
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=message[:500], finished_at=timezone.now()
        )
        return ExportJob.objects.get(pk=job.pk)
    except Exception:
        path.unlink(missing_ok=True)
        log.exception("research export %s failed", job.public_id)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED,
            error="The export failed; the operators were notified.",
            finished_at=timezone.now(),
        )
        raise
    finished = timezone.now()
    sha = file_sha256(path)
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE,
            progress=100,
            counts=result.counts,
            sha256=sha,
            size_bytes=path.stat().st_size,
            file=name,
            finished_at=finished,
            expires_at=finished + dt.timedelta(hours=settings.EXPORT_LIFETIME_HOURS),
        )
        job.refresh_from_db()
        _audit(job, {name: sha})
    return job


def _audit(job: ExportJob, files: dict[str, str]) -> None:
    audit_record(
        user=job.requester,
        action="export",
        obj=job,
        changes={"format": job.format, "filters": job.filters, "counts": job.counts, "sha256": files},
    )


def export_to_directory(
    *, user, options: ExportOptions, out_dir: Path, progress: Callable[[int, int], None] | None = None
) -> list[Path]:
    """The command's export: CSV and Parquet as one zip bundle, FHIR and Phenopackets as
    plain files (NDJSON per resource type, JSON per patient) with a manifest, in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if options.format in BUNDLED:
        path = out_dir / f"research-export-{options.format}-{options.project}-{stamp}.zip"
        sink = ZipSink(path)
    else:
        sink = DirSink(out_dir)
    try:
        result = export_build(user=user, options=options, sink=sink, progress=progress)
    finally:
        paths = sink.close()
    files = {str(p.relative_to(out_dir)): file_sha256(p) for p in paths}
    main = paths[0] if options.format in BUNDLED else out_dir / "manifest.json"
    now = timezone.now()
    with transaction.atomic():
        job = ExportJob.objects.create(
            requester=user,
            format=options.format,
            filters=options.as_filters(),
            status=ExportJob.Status.DONE,
            progress=100,
            counts=result.counts,
            sha256=files.get(str(main.relative_to(out_dir)), ""),
            size_bytes=sum(p.stat().st_size for p in paths),
            output=str(out_dir.resolve())[:500],
            started_at=now,
            finished_at=now,
        )
        # The manifest holds every file's checksum; the audit row names the file that carries them.
        _audit(job, {str(main.relative_to(out_dir)): job.sha256})
    return paths


def exports_expire(now: dt.datetime | None = None) -> int:
    """Delete the files of finished jobs past their expiry; the job rows stay (audit)."""
    now = now or timezone.now()
    due = ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now)
    n = 0
    for job in due.only("pk", "file"):
        if job.file:
            (Path(settings.EXPORT_DIR) / job.file).unlink(missing_ok=True)
        n += ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.DONE).update(
            status=ExportJob.Status.EXPIRED, file=""
        )
    return n
