"""OpenAPI description of the registry's token authentication (bearer scheme)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "registry.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-user API token from /profile/tokens/ or `manage.py issue_api_token`: "
            "`Authorization: Bearer <token>`.",
        }
