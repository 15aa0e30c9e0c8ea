"""Thin Celery tasks for research exports: they take ids and call the services."""

from __future__ import annotations

from celery import shared_task

from registry.exports import services

# An export of a large registry takes minutes: its own time limits, above the default.
EXPORT_LIMITS = {"soft_time_limit": 3300, "time_limit": 3600}


@shared_task(**EXPORT_LIMITS)
def build_export(job_id: int) -> str | None:
    """Build one queued export. A second delivery of the same job finds it claimed and
    does nothing (not acks_late: a half-written export is failed, not silently retried)."""
    job = services.export_job_run(job_id)
    return job.status if job else None


@shared_task
def exports_expire() -> int:
    return services.exports_expire()
