"""Reads for research export jobs: a job is visible to its requester only (anyone else,
administrators included, gets the same 404 as for a job that does not exist)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from registry.exports.models import ExportJob


def export_jobs_for_user(user) -> QuerySet[ExportJob]:
    if user is None or not user.is_authenticated:
        return ExportJob.objects.none()
    return ExportJob.objects.filter(requester=user)


def export_job_for_user(user, public_id) -> ExportJob:
    try:
        return export_jobs_for_user(user).get(public_id=public_id)
    except (ExportJob.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("No such export.") from exc


def export_job_file(job: ExportJob) -> Path | None:
    """The finished file, or None when the job is not done, has expired or lost its file."""
    if job.status != ExportJob.Status.DONE or not job.file:
        return None
    if job.expires_at is not None and job.expires_at <= timezone.now():
        return None
    path = Path(settings.EXPORT_DIR) / job.file
    return path if path.is_file() else None
