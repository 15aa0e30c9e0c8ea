"""Reads of the clinical record. Every function takes an already-scoped queryset or a
patient fetched through ``registry.access``."""

from __future__ import annotations

from django.db.models import QuerySet

from registry import access
from registry.models import Patient


def patient_list(*, user, search: str = "") -> QuerySet[Patient]:
    qs = access.patients_for_user(user).select_related("home_site")
    if access.can_see_identity(user):
        qs = qs.select_related("identity")
    if search:
        qs = qs.filter(registry_code__icontains=search)
    return qs.order_by("registry_code")
