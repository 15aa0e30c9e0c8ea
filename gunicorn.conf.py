"""gunicorn settings, read from the working directory (the image's /app) at start.

The access log never carries a query string or a referer (patient search is ``?q=``):
``%(U)s`` is the path alone. Lines go through the same formatters as the application's
(JSON in production, text with DJANGO_DEBUG=1 or DJANGO_LOG_FORMAT=text).
"""

from __future__ import annotations

import os

_debug = os.environ.get("DJANGO_DEBUG", "0").strip().lower() in {"1", "true", "yes", "on"}
_format = os.environ.get("DJANGO_LOG_FORMAT", "text" if _debug else "json")

# a 20 MB lab CSV is parsed and previewed inside the upload request (the confirmation
# runs in a worker); 120 s leaves room for that on a loaded machine
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 20
# the client's address, the method and path (no query), status, bytes, seconds, request id
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s %({x-request-id}o)s'

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "ops.logging.TextFormatter"},
        "json": {"()": "ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _format,
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": _format,
            "filters": ["request_id"],
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
