"""Log records: a request id on every line, JSON lines in production, and no query strings.

What the registry logs never names a patient: services log ids, not identities. Request
lines are the one place user input reaches a log (patient search is ``?q=``), so the
access-log formats (runserver here, gunicorn in ``gunicorn.conf.py``) drop the query
string and the referer.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# A request id from a proxy is kept only if it looks like one (no log injection).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# "GET /patients/?q=Smith HTTP/1.1" -> "GET /patients/ HTTP/1.1"
_QUERY = re.compile(r"\?[^\s\"]*")
ACCESS_LOGGERS = frozenset({"django.server", "gunicorn.access"})


def new_request_id(candidate: str | None = None) -> str:
    if candidate and _SAFE_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def scrub(record: logging.LogRecord) -> str:
    """The record's message, with any query string removed from request lines."""
    message = record.getMessage()
    if record.name in ACCESS_LOGGERS:
        message = _QUERY.sub("", message)
    return message


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the current request's, or the request that enqueued the task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs a response after the middleware has returned; it passes
            # the request along, which carries the id
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id_var.get()
            if record.name == "gunicorn.access" and isinstance(record.args, dict):
                # gunicorn's access record: the response header the middleware set
                record.request_id = record.args.get("{x-request-id}o") or record.request_id
        return True


class TextFormatter(logging.Formatter):
    """Readable lines for development; request lines without their query string."""

    def __init__(self, fmt: str | None = None, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s", **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging API
        record.message = scrub(record)
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "process": record.process,
        }
        task_id = getattr(record, "task_id", None)
        if task_id:
            body["task_id"] = task_id
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)
