"""Request id, and a clean 503 when the database is unreachable."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from ops.logging import new_request_id, request_id_var
from ops.responses import database_unavailable

log = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the proxy (or makes one), puts it on every log record of
    the request and on every task the request enqueues, and returns it to the client."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = request_id
        return response


class DatabaseUnavailableMiddleware:
    """A view that loses its database connection (server restarting, connect or statement
    timeout, lock timeout) answers 503 with ``Retry-After`` instead of a 500. The view's
    transaction was rolled back by ``atomic``; Django drops the broken connection at the end
    of the request and the next request opens a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_DOWN):
            return None
        # the class only: a driver message may quote the statement's values
        log.warning("database unavailable during %s %s: %s", request.method, request.path, type(exception).__name__)
        return database_unavailable(request)
