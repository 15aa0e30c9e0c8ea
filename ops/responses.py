"""The 503 answer for "the database is unavailable right now", in the caller's format."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import bad_request as django_bad_request
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


def _caused_by_database_outage(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OperationalError, InterfaceError)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def bad_request(request: HttpRequest, exception: Exception, template_name: str = "400.html") -> HttpResponse:
    """``handler400``: a session that could not be saved because the database went away
    (Django reports it as SessionInterrupted, a 400) is a 503 like any other outage."""
    if _caused_by_database_outage(exception):
        log.warning("database unavailable while saving the session of %s %s", request.method, request.path)
        return database_unavailable(request)
    return django_bad_request(request, exception, template_name)
