"""Response headers every page and API response carries."""

from __future__ import annotations

from django.conf import settings


class SecurityHeadersMiddleware:
    """Content-Security-Policy everywhere; ``Cache-Control: no-store`` on patient data."""

    NO_STORE_PREFIXES = ("/patients", "/api/", "/alerts", "/labs", "/visits", "/treatments", "/imports", "/cohort")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if request.path.startswith(self.NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        return response
