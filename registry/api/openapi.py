"""The OpenAPI description of the registry API says exactly what the server does.

``RegistryAutoSchema`` derives from the views and serializers everything the server
enforces on its own, so a new operation is documented correctly without per-view code:

- ``If-Match`` on PUT/PATCH/DELETE of views with ``sends_etag`` (required, with 428 when
  absent, unless the method is in the view's ``if_match_optional``), and 412 with the
  conflict body (``current``: the record's values as saved now).
- ``ETag`` on every response that carries one: 200 of GET/PUT/PATCH on ``sends_etag``
  views, 201 of POST on views with ``create_sends_etag``.
- Request bodies: ``additionalProperties: false`` where unknown keys are refused
  (``StrictSerializer``), fields required in PATCH as the server requires them
  (``patch_required`` on the serializer), no NUL characters in any string, a
  non-space character where blank is refused, the identity character rules
  (``registry.normalize``) on names and MRNs.
- Query strings: no NUL characters; ``page_size`` bounds; the cursor.
- The error responses each operation can give, in the one error shape.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_patched_serializer
from rest_framework import serializers

from registry import normalize
from registry.api.fields import IdentityTextField

# Patterns (ECMA and Python regex both read ``\uXXXX``): NUL refused anywhere, and at
# least one non-space character where the server trims and refuses blank values.
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = r"^[^\u0000]*[^\u0000\s][^\u0000]*$"


def _refused_class() -> str:
    parts = []
    for lo, hi in normalize.refused_characters():
        if lo > 0xFFFF:
            break  # astral code points: \uXXXX cannot name them; the server still refuses them
        hi = min(hi, 0xFFFF)
        if 0xD800 <= lo <= 0xDFFF:
            # Surrogates are not characters: validators built on Unicode scalar values
            # cannot compile a range of them. A lone surrogate is refused by the server.
            lo = 0xE000
            if hi < lo:
                continue
        parts.append(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}")
    return "".join(parts)


_REFUSED = _refused_class()
# A name or identifier: no invisible or control character, at least one visible one.
IDENTITY_TEXT = rf"^[^{_REFUSED}]*[^{_REFUSED}\s][^{_REFUSED}]*$"


# --------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ConflictCurrentSerializer(serializers.Serializer):
    """The record's editable values as saved now (numbers as numbers, dates as ISO
    text), so the client can show them next to its own and reapply its change."""

    version = serializers.IntegerField(help_text="Send this in If-Match to overwrite knowingly")
    value = serializers.FloatField(required=False, allow_null=True, help_text="Lab results: the value as reported")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current = ConflictCurrentSerializer(
        required=False, help_text="The record as saved now; absent when If-Match names no version at all"
    )


ERROR_TEXT = {
    "400": "Invalid input: malformed JSON or query, or field errors in `errors`.",
    "401": "No or invalid credentials.",
    "403": "Authenticated, but the role does not allow this (e.g. researchers cannot write).",
    "404": "No such object, or not one of your sites' (the two look the same).",
    "412": "If-Match names another version: someone else changed the record (`current` holds it as saved now).",
    "413": "The request body is too large.",
    "428": "If-Match header missing: read the record and send its ETag.",
    "429": "Too many requests: slow down (see Retry-After).",
}

URI_TOO_LONG = {
    "description": "The request line (path and query) is too long: refused by the web server before the API.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}

ETAG_HEADER = {
    "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
    "required": True,
    "description": "The record's version, to send back in If-Match.",
}


def if_match_parameter(*, required: bool) -> dict:
    return {
        "in": "header",
        "name": "If-Match",
        "required": required,
        "schema": {"type": "string", "minLength": 1, "pattern": NO_NUL},
        "description": 'The ETag of the version you read, e.g. `"3"`'
        + ("." if required else "; without it the record is deleted whatever its version."),
    }


class RegistryAutoSchema(AutoSchema):
    def get_description(self):
        # A view without a docstring of its own would otherwise be described by the
        # base class's ("every API view of the registry derives from this").
        if not vars(type(self.view)).get("__doc__"):
            return ""
        return super().get_description()

    # -- helpers -----------------------------------------------------------------------
    def _if_match(self) -> str | None:
        """'required', 'optional' or None: how this operation reads If-Match."""
        if self.method not in ("PUT", "PATCH", "DELETE") or not getattr(self.view, "sends_etag", False):
            return None
        return "optional" if self.method in getattr(self.view, "if_match_optional", ()) else "required"

    def _sends_etag(self, status_code: str) -> bool:
        if status_code == "200" and self.method in ("GET", "PUT", "PATCH"):
            return getattr(self.view, "sends_etag", False)
        if status_code == "201" and self.method == "POST":
            return getattr(self.view, "create_sends_etag", False)
        return False

    # -- parameters ----------------------------------------------------------------------
    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            plain_text = schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema)
            if parameter.get("in") == "query" and plain_text:
                schema["pattern"] = NOT_BLANK if parameter.get("required") else NO_NUL
                if parameter.get("required"):
                    schema.setdefault("minLength", 1)
        mode = self._if_match()
        if mode is not None:
            parameters.append(if_match_parameter(required=mode == "required"))
        return parameters

    # -- request bodies --------------------------------------------------------------------
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        if is_patched_serializer(serializer, direction):
            required = [name for name in getattr(serializer, "patch_required", ()) if name in schema["properties"]]
            if required:
                schema["required"] = required
        if getattr(serializer, "refuses_unknown_keys", False):
            schema["additionalProperties"] = False
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and schema and schema.get("type") == "string":
            if isinstance(field, IdentityTextField):
                schema["pattern"] = IDENTITY_TEXT
            elif "enum" not in schema and schema.get("format") not in ("binary", "date", "date-time", "uuid"):
                blank_refused = isinstance(field, serializers.CharField) and not field.allow_blank
                schema.setdefault("pattern", NOT_BLANK if blank_refused else NO_NUL)
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None and getattr(self.view, "request_body_required", False):
            body["required"] = True
        return body

    # -- responses -------------------------------------------------------------------------
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "429"]
        if "{" in self.path or self.method == "POST":  # POST: the site or parent may not be yours
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        mode = self._if_match()
        if mode is not None:
            codes.append("412")
        if mode is not None:  # also where If-Match is optional: one sent blank is refused with 428
            codes.append("428")
        for code in codes:
            if code not in responses:
                serializer = ConflictSerializer if code == "412" else ErrorSerializer
                response = self._get_response_for_code(serializer, code, direction=direction)
                response["description"] = ERROR_TEXT[code]
                responses[code] = response
        # gunicorn refuses a request line over its limit (limit_request_line, 4094 bytes)
        # before the application sees it, with its own HTML page.
        responses.setdefault("414", URI_TOO_LONG)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction) or {}
        if self._sends_etag(str(status_code)):
            headers.setdefault("ETag", dict(ETAG_HEADER))
        return headers


# --------------------------------------------------------------------------------------
# Links: how a client (or a stateful fuzzer) gets from a created record to reading and
# changing it, with the ETag it was given as If-Match
# --------------------------------------------------------------------------------------


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _links_to_detail(list_path: str, detail_path: str, detail_ops: dict, *, source: str) -> dict:
    """Links from a response (``source``: 'create' for a POST 201 on the collection,
    'read' for the detail's own 200) to the detail's operations."""
    new_param = _path_params(detail_path)[-1]
    links = {}
    for method, op in detail_ops.items():
        if method not in ("get", "put", "patch", "delete") or "operationId" not in op:
            continue
        if source == "read" and method == "get":
            continue
        parameters: dict[str, str] = {name: f"$request.path.{name}" for name in _path_params(list_path)}
        parameters[new_param] = "$response.body#/id" if source == "create" else f"$request.path.{new_param}"
        if any(p.get("name") == "If-Match" and p.get("in") == "header" for p in op.get("parameters", [])):
            parameters["header.If-Match"] = "$response.header.ETag"
        links[f"{method.capitalize()}{op['operationId'].title().replace('_', '')}"] = {
            "operationId": op["operationId"],
            "parameters": parameters,
            "description": f"{method.upper()} the record"
            + (" just created" if source == "create" else "")
            + (", with its ETag as If-Match" if "header.If-Match" in parameters else ""),
        }
    return links


def _links_to_children(list_path: str, detail_path: str, paths: dict) -> dict:
    """From a create to the collections under the new record (a new patient's labs)."""
    new_param = _path_params(detail_path)[-1]
    links = {}
    for child_path, child_ops in paths.items():
        if not child_path.startswith(detail_path) or child_path == detail_path:
            continue
        if _path_params(child_path) != _path_params(detail_path):
            continue
        for method in ("get", "post"):
            op = child_ops.get(method)
            if op is None or "operationId" not in op:
                continue
            parameters = {name: f"$request.path.{name}" for name in _path_params(list_path)}
            parameters[new_param] = "$response.body#/id"
            links[f"{method.capitalize()}{op['operationId'].title().replace('_', '')}"] = {
                "operationId": op["operationId"],
                "parameters": parameters,
                "description": f"{method.upper()} {child_path[len(detail_path) :]} of the record just created",
            }
    return links


def add_links(result, generator, request, public):
    """drf-spectacular post-processing hook: OpenAPI links from each create (201) and
    each detail read (200) to the record's detail operations."""
    paths = result.get("paths", {})
    for path, ops in paths.items():
        for detail_path, detail_ops in paths.items():
            rest = detail_path[len(path) :] if detail_path.startswith(path) else ""
            if not (rest.startswith("{") and rest.endswith("}/") and rest.count("/") == 1):
                continue
            post = ops.get("post", {}).get("responses", {}).get("201")
            if post is not None:
                post.setdefault("links", {}).update(_links_to_detail(path, detail_path, detail_ops, source="create"))
                post["links"].update(_links_to_children(path, detail_path, paths))
        get = ops.get("get", {}).get("responses", {}).get("200")
        if get is not None and "ETag" in get.get("headers", {}):
            get.setdefault("links", {}).update(_links_to_detail(path, path, ops, source="read"))
    return result
