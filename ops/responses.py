"""The 503 answer for "the database is unavailable right now", in the caller's format."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as django_server_error

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
MESSAGE = "The registry's database is unavailable for a moment; nothing was saved. Try again shortly."


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": MESSAGE, "code": "database_unavailable"}, status=503)
    else:
        response = HttpResponse(loader.render_to_string("503.html", {"message": MESSAGE}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # logged once as a warning by the caller; Django would add an ERROR line per request
    response._has_been_logged = True
    return response


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: a database outage met outside a view (session save, user lookup in
    a middleware) is still a 503, not an error page that suggests a bug."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database unavailable during %s %s: %s", request.method, request.path, type(exc).__name__)
        return database_unavailable(request)
    return django_server_error(request, template_name)
