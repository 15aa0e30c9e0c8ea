"""Django admin for the clinical record: view-only, scoped by ``registry.access``.

Visits, labs, courses and alerts are written through ``clinical.services`` by the app's
forms, API and imports (validation, unit conversion, audit, reason for change); the
admin shows them to the users the access layer allows, and nothing more.
"""

from __future__ import annotations

from django.contrib import admin

from clinical.models import Alert, DoseChange, LabResult, Skinfold, TreatmentCourse, Visit
from registry import access
from registry.admin import PatientSiteFilter, ReadOnlyInline, ReadOnlyScopedAdmin


class SkinfoldInline(ReadOnlyInline):
    model = Skinfold
    fields = ("site", "mm")
    readonly_fields = fields


class VisitLabInline(ReadOnlyInline):
    model = LabResult
    fields = ("analyte", "value", "unit", "canonical_value", "collected_on", "fasting", "source")
    readonly_fields = fields


@admin.register(Visit)
class VisitAdmin(ReadOnlyScopedAdmin):
    list_display = ("patient", "visit_date", "site", "weight_kg", "systolic_bp", "diastolic_bp", "source")
    list_filter = (PatientSiteFilter, "source")
    list_select_related = ("patient", "site")
    search_fields = ("patient__registry_code",)
    date_hierarchy = "visit_date"
    ordering = ("-visit_date", "-id")
    inlines = [SkinfoldInline, VisitLabInline]
    exclude = ("clinician", "created_by")

    def scoped(self, request):
        return access.visits_for_user(request.user)


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyScopedAdmin):
    list_display = ("patient", "analyte", "value", "unit", "canonical_value", "collected_on", "source")
    list_filter = (PatientSiteFilter, "analyte", "unit", "source")
    list_select_related = ("patient",)
    search_fields = ("patient__registry_code",)
    date_hierarchy = "collected_on"
    ordering = ("-collected_on", "-id")
    exclude = ("created_by",)

    def scoped(self, request):
        return access.labs_for_user(request.user)


class DoseChangeInline(ReadOnlyInline):
    model = DoseChange
    fields = ("effective_date", "dose", "dose_unit", "reason")
    readonly_fields = fields


@admin.register(TreatmentCourse)
class TreatmentCourseAdmin(ReadOnlyScopedAdmin):
    list_display = ("patient", "drug", "start_date", "end_date", "stop_reason", "source")
    list_filter = (PatientSiteFilter, "drug", "stop_reason")
    list_select_related = ("patient",)
    search_fields = ("patient__registry_code",)
    ordering = ("-start_date", "-id")
    inlines = [DoseChangeInline]
    exclude = ("created_by",)

    def scoped(self, request):
        return access.courses_for_user(request.user)


@admin.register(Alert)
class AlertAdmin(ReadOnlyScopedAdmin):
    list_display = ("patient", "rule", "severity", "status", "created_at")
    list_filter = (PatientSiteFilter, "severity", "status", "rule")
    list_select_related = ("patient",)
    search_fields = ("patient__registry_code", "rule")
    ordering = ("severity_rank", "-created_at")
    exclude = ("acknowledged_by",)

    def scoped(self, request):
        return access.alerts_for_user(request.user)
