"""Celery signal handlers: the enqueuing request's id travels in a message header and is
set on the worker's log records while the task runs; database connections are checked
around each task as around each request; the worker stamps its heartbeat on start."""

from __future__ import annotations

import logging

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from ops.logging import request_id_var

log = logging.getLogger(__name__)
HEADER = "request_id"
_tokens: dict[str, object] = {}


@before_task_publish.connect
def add_request_id(sender=None, headers=None, **_kwargs) -> None:
    if headers is not None and HEADER not in headers:
        current = request_id_var.get()
        if current != "-":
            headers[HEADER] = current


@task_prerun.connect
def bind_request_id(sender=None, task_id=None, task=None, **_kwargs) -> None:
    parent = getattr(task.request, HEADER, None) if task is not None else None
    if parent is None and task is not None and task.request.headers:
        parent = task.request.headers.get(HEADER)
    if parent or task_id:
        _tokens[task_id] = request_id_var.set(parent or f"task-{task_id}")


@task_postrun.connect
def unbind_request_id(sender=None, task_id=None, **_kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


@task_prerun.connect
@task_postrun.connect
def check_database_connections(sender=None, task=None, **_kwargs) -> None:
    """Close the connections that are broken or older than CONN_MAX_AGE and have the next
    use health-check the others (Django's request signals do the same). Not for a task run
    eagerly inside a caller's transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def stamp_on_start(sender=None, **_kwargs) -> None:
    from ops.heartbeat import stamp

    try:
        stamp(detail=getattr(sender, "hostname", "") or "")
    except Exception:  # the database may still be starting; beat stamps again within a minute
        log.warning("could not stamp the worker heartbeat at start", exc_info=True)
