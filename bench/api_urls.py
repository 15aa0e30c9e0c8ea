"""Bench-only URLconf (``bench/api_settings.py``): every URL of the product, plus the
reference of the API benchmark, a bare DRF view of one patient's lab results.

The bare view has no authentication, no permission, no throttle, no scoping, no query
parsing and no pagination object: one query for the newest 50 rows of the patient, as
plain values, rendered by DRF's JSON renderer. It runs behind the same middleware and in
the same gunicorn as the real endpoint, so the ratio of the two measures what the real
endpoint adds on top of a request that only reads and renders the same rows.
"""

from __future__ import annotations

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical.models import LabResult
from registry.urls import handler400, handler500  # noqa: F401  (the product's error pages)

FIELDS = (
    "public_id", "analyte", "value", "unit", "canonical_value", "collected_on", "fasting",
    "reference_low", "reference_high", "source", "version", "created_at", "updated_at",
)  # fmt: skip


class BareLabList(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def get(self, request, patient_id):
        rows = LabResult.objects.filter(patient__public_id=patient_id).order_by("-collected_on", "-id")
        return Response({"results": list(rows.values(*FIELDS)[:50])})


urlpatterns = [
    path("bench/bare/patients/<uuid:patient_id>/labs/", BareLabList.as_view(), name="bench-bare-labs"),
    path("", include("registry.urls")),
]
