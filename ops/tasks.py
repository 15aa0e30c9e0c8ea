"""Operational tasks: the heartbeat beat schedules every minute, and the lab import
confirmation that runs outside the web request."""

from __future__ import annotations

import socket

from celery import shared_task
from django.db import InterfaceError, OperationalError

# Only a lost or refused connection is worth retrying; anything else is a bug or bad data.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


@shared_task(name="ops.tasks.heartbeat", ignore_result=True, expires=120)
def heartbeat() -> None:
    """Run by a worker: proves beat scheduled it, the broker carried it and a worker ran it."""
    from ops.heartbeat import stamp
    from ops.lab_import_jobs import requeue_waiting

    stamp(detail=socket.gethostname())
    requeue_waiting()


@shared_task(
    name="ops.tasks.confirm_lab_import",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=CONNECTION_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def confirm_lab_import(job_id: int) -> None:
    from ops.lab_import_jobs import run_job

    run_job(job_id)
