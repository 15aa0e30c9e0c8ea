"""Clinical resources under ``/api/v1/`` (included by ``registry.api.urls``)."""

from __future__ import annotations

from django.urls import path

from clinical.api import alert_views, imports, views

P = "patients/<uuid:patient_id>"

urlpatterns = [
    path(f"{P}/labs/", views.LabList.as_view(), name="api-labs"),
    path(f"{P}/labs/<uuid:lab_id>/", views.LabDetail.as_view(), name="api-lab"),
    path(f"{P}/visits/", views.VisitList.as_view(), name="api-visits"),
    path(f"{P}/visits/<uuid:visit_id>/", views.VisitDetail.as_view(), name="api-visit"),
    path(f"{P}/treatments/", views.TreatmentList.as_view(), name="api-treatments"),
    path(f"{P}/treatments/<uuid:course_id>/", views.TreatmentDetail.as_view(), name="api-treatment"),
    path(f"{P}/treatments/<uuid:course_id>/doses/", views.DoseList.as_view(), name="api-doses"),
    path(f"{P}/treatments/<uuid:course_id>/doses/<uuid:dose_id>/", views.DoseDetail.as_view(), name="api-dose"),
    path(f"{P}/alerts/", alert_views.AlertList.as_view(), name="api-alerts"),
    path(f"{P}/alerts/<uuid:alert_id>/acknowledge/", alert_views.AlertAcknowledge.as_view(), name="api-alert-ack"),
    path(f"{P}/alerts/<uuid:alert_id>/reopen/", alert_views.AlertReopen.as_view(), name="api-alert-reopen"),
    path(f"{P}/trends/", views.TrendList.as_view(), name="api-trends"),
    path("alerts/", alert_views.AlertRegistryList.as_view(), name="api-alert-list"),
    path("lab-imports/", imports.LabImportCreate.as_view(), name="api-lab-imports"),
    path("lab-imports/<uuid:import_id>/", imports.LabImportDetail.as_view(), name="api-lab-import"),
    path("lab-imports/<uuid:import_id>/confirm/", imports.LabImportConfirm.as_view(), name="api-lab-import-confirm"),
]
