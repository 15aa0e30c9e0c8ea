"""What every API view shares: strict parsing, one error shape, ETag / If-Match,
cursor pagination, the access-layer permission and an OpenAPI schema class that
documents each operation's error responses.

Error responses always look like ``{"detail": "...", "errors": {"field": ["..."]}}``
(``errors`` only where fields are at fault). Service ``ValidationError`` dicts become
400, a stale version 412, a missing ``If-Match`` 428, an oversized body 413.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, generics, parsers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from registry import access
from registry.api import schema as _schema  # noqa: F401  (registers the token auth scheme)
from registry.api.metadata import AllowedMethodsMetadata
from registry.api.openapi import NO_NUL, ErrorSerializer, RegistryAutoSchema  # noqa: F401  (ErrorSerializer: re-export)
from registry.writekit import ConflictError

MAX_JSON_DEPTH = 16


# --------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send the record's ETag in an If-Match header (read the record first)."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record was changed by someone else; read it again and reapply your change."
    default_code = "precondition_failed"


def _flatten(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structures as ``{"labs.0.value": ["..."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        out[prefix or "non_field_errors"] = [str(x) for x in data]
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if value:
                out.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    elif data is not None:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


def _decimal_field_names() -> frozenset[str]:
    from django.apps import apps
    from django.db.models import DecimalField

    return frozenset(
        f.attname for m in apps.get_models() for f in m._meta.concrete_fields if isinstance(f, DecimalField)
    )


def conflict_current(current: dict[str, Any]) -> dict[str, Any]:
    """The saved values of a conflicting record as the API shows them: the audit
    snapshot keeps decimals as text, the API's bodies carry numbers."""
    numeric = _decimal_field_names()
    out = {}
    for key, value in current.items():
        if key in numeric and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        out[key] = value
    return out


def api_exception_handler(exc, context):
    """DRF's handler, plus the service exceptions, in one response shape."""
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        # A service error may carry a machine-readable code and data (e.g. unit_suspect).
        extra = getattr(exc, "api_extra", None) or {}
        return Response({"detail": "Invalid input.", "errors": errors, **extra}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc), "current": conflict_current(exc.current)}, status=status.HTTP_412_PRECONDITION_FAILED
        )
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "errors": _flatten(data)}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"])}
    else:
        response.data = {"detail": "Error.", "errors": _flatten(data)}
    return response


# --------------------------------------------------------------------------------------
# Parsing: size limit, depth limit, NUL bytes, no NaN
# --------------------------------------------------------------------------------------


def content_length(request) -> int:
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def check_json_value(value: Any, depth: int = 0) -> None:
    """Refuse documents nested deeper than MAX_JSON_DEPTH and strings with NUL bytes."""
    if depth > MAX_JSON_DEPTH:
        raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise exceptions.ParseError("Strings may not contain NUL characters.")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_value(key, depth + 1)
            check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth + 1)


class StrictJSONParser(parsers.JSONParser):
    """JSON with a body size limit (413), a depth limit and no NUL bytes (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if request is not None and content_length(request) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        except (ValueError, UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}")
        check_json_value(data)
        return data


def check_query_params(request) -> None:
    """NUL bytes in the query string would reach the database driver: refuse them."""
    for key, values in request.query_params.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            raise exceptions.ParseError("Query parameters may not contain NUL characters.")


# --------------------------------------------------------------------------------------
# Permissions, pagination, ETags
# --------------------------------------------------------------------------------------


class HasRegistryAccess(IsAuthenticated):
    """Authenticated and a member of at least one site (or a registry admin)."""

    message = "Your account has no site membership."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return access.is_member(request.user)


class RegistryCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request) -> int:
        """``page_size`` between 1 and max_page_size; anything else is refused (400),
        never silently clamped."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": [f"Give a whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position: use the next/previous links as given.",
                "schema": {"type": "string", "pattern": NO_NUL},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor: use the next/previous links as given."]})

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "get_cursor_ordering", None)
        if ordering is not None:
            return ordering(request)
        return getattr(view, "cursor_ordering", None) or (self.ordering,)


def etag_for(obj) -> str:
    # Records without a version column (dose changes) are written once: version 1.
    return f'"{getattr(obj, "version", 1)}"'


def expected_version(request) -> int:
    """The version named by ``If-Match`` (428 when absent, 412 when unparseable)."""
    header = (request.headers.get("If-Match") or "").strip()
    if not header:
        raise PreconditionRequired()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if tag.isdigit() and len(tag) < 10:
            return int(tag)
    raise PreconditionFailed("If-Match does not name a version of this record.")


def with_etag(response: Response, obj) -> Response:
    response["ETag"] = etag_for(obj)
    return response


# --------------------------------------------------------------------------------------
# The base view
# --------------------------------------------------------------------------------------


class RegistryAPIView(generics.GenericAPIView):
    """Authenticated, scoped, strict: every API view of the registry derives from this."""

    permission_classes = [HasRegistryAccess]
    parser_classes = [StrictJSONParser]
    schema = RegistryAutoSchema()
    metadata_class = AllowedMethodsMetadata
    pagination_class = RegistryCursorPagination
    # OpenAPI and headers: see registry.api.openapi.RegistryAutoSchema.
    sends_etag = False  # GET/PUT/PATCH answers carry the record's ETag; PUT/PATCH/DELETE read If-Match
    create_sends_etag = False  # POST's 201 carries the new record's ETag
    if_match_optional: frozenset[str] = frozenset()  # methods where If-Match may be left out
    request_body_required = False  # declare the request body required (forms with no required field)

    def get_exception_handler(self):
        return api_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_query_params(request)

    # -- helpers ---------------------------------------------------------------------
    def patient(self, *, write: bool = False):
        """The URL's patient, read-scoped (404); with ``write`` also writable (403)."""
        patient = access.patient_for_user(self.request.user, self.kwargs["patient_id"])
        if write and not access.can_write(self.request.user, patient):
            raise exceptions.PermissionDenied("Your role at this site does not allow changes.")
        return patient

    def validated(self, serializer_class, *, partial: bool = False) -> dict:
        """The request body checked by ``serializer_class`` (400 with field errors)."""
        ser = serializer_class(data=self.request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        return dict(ser.validated_data)

    def require_writer(self) -> None:
        if not access.can_write(self.request.user):
            raise exceptions.PermissionDenied("Your role does not allow changes.")

    def paginate(self, queryset, serializer_class, **context):
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context={"request": self.request, **context}).data
        return self.get_paginated_response(data)
