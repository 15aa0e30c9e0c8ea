"""The base class of every Celery task: counts deliveries and parks poison messages.

A task acknowledged late is redelivered when its worker dies mid-task. If the task itself
kills the worker (out of memory, a segfault in a driver), that loops forever. Each start
of a message (task id + retry number) increments a row in ``ops.TaskDelivery``; the row is
deleted when the body returns or raises, so only deaths accumulate. Past
``settings.TASK_MAX_DELIVERIES`` the message is recorded in ``ops.ParkedTask``, reported
by /readyz, and acknowledged without running.
"""

from __future__ import annotations

import logging

from celery import Task
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

log = logging.getLogger(__name__)


def delivery_begin(key: str, task_name: str) -> int | None:
    """Count one more delivery of ``key``; None if the database cannot be reached (the
    body then runs and meets the same error, which its retry policy handles)."""
    from ops.models import TaskDelivery

    table = connection.ops.quote_name(TaskDelivery._meta.db_table)
    now = timezone.now()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, task_name, deliveries, first_at, last_at) VALUES (%s, %s, 1, %s, %s) "  # noqa: S608 - table name from the model
                f"ON CONFLICT (key) DO UPDATE SET deliveries = {table}.deliveries + 1, last_at = %s "
                "RETURNING deliveries",
                [key, task_name[:200], now, now, now],
            )
            return int(cursor.fetchone()[0])
    except DatabaseError:
        log.warning("could not count the delivery of %s", key, exc_info=True)
        return None


def delivery_end(key: str) -> None:
    from ops.models import TaskDelivery

    try:
        TaskDelivery.objects.filter(key=key).delete()
    except DatabaseError:
        # a stale row only makes a later redelivery of this very message park sooner
        log.warning("could not clear the delivery count of %s", key)


def park(*, task: Task, deliveries: int, args: tuple, kwargs: dict) -> None:
    from ops.models import ParkedTask

    ParkedTask.objects.create(
        task_id=str(task.request.id),
        task_name=task.name,
        args=list(args),
        kwargs=dict(kwargs),
        deliveries=deliveries,
    )
    log.error(
        "task %s[%s] parked after %d deliveries that never finished; see /readyz and the ParkedTask admin",
        task.name,
        task.request.id,
        deliveries,
    )


class GuardedTask(Task):
    def __call__(self, *args, **kwargs):
        request = self.request
        if request.called_directly or request.is_eager or not request.id:
            return self.run(*args, **kwargs)
        key = f"{request.id}:{request.retries or 0}"
        deliveries = delivery_begin(key, self.name)
        if deliveries is not None and deliveries > settings.TASK_MAX_DELIVERIES:
            park(task=self, deliveries=deliveries - 1, args=args, kwargs=kwargs)
            delivery_end(key)
            return None
        try:
            # Task.__call__ would push a fresh request context and lose the delivery's id
            return self.run(*args, **kwargs)
        finally:
            delivery_end(key)
