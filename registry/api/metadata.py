"""OPTIONS answers: which methods a route allows and what it parses and renders.

DRF's default metadata also describes the body of each write by instantiating the
view's serializer (and, for PUT, fetching the object), which our explicit views do not
declare: that turned an OPTIONS into a 500. The request bodies are described by the
OpenAPI schema at /api/schema/, so OPTIONS says only what the Allow header says."""

from __future__ import annotations

from rest_framework.metadata import BaseMetadata


class AllowedMethodsMetadata(BaseMetadata):
    def determine_metadata(self, request, view) -> dict:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "allowed_methods": list(view.allowed_methods),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
