"""Every URL of the clinician screens (the API's are in ``clinical/api/urls.py``)."""

from __future__ import annotations

from django.urls import path

from clinical.views import (
    alerts,
    chart,
    corrections,
    dashboards,
    history,
    import_progress,
    imports,
    labs,
    patients,
    summary,
    treatments,
    visits,
)

urlpatterns = [
    path("patients/", patients.patient_list, name="patient-list"),
    path("alerts/", alerts.alert_worklist, name="alert-worklist"),
    path("alerts/<uuid:public_id>/acknowledge/", alerts.alert_acknowledge, name="alert-acknowledge"),
    path("alerts/<uuid:public_id>/reopen/", alerts.alert_reopen, name="alert-reopen"),
    path("imports/labs/", imports.lab_import_upload, name="lab-import"),
    path("imports/labs/template.csv", imports.lab_import_template, name="lab-import-template"),
    path("imports/labs/<uuid:import_id>/", imports.lab_import_preview, name="lab-import-preview"),
    path("imports/labs/<uuid:import_id>/confirm/", imports.lab_import_confirm, name="lab-import-confirm"),
    path("imports/labs/<uuid:import_id>/progress/", import_progress.lab_import_progress, name="lab-import-progress"),
    path("imports/labs/<uuid:import_id>/discard/", imports.lab_import_discard, name="lab-import-discard"),
    path("patients/<uuid:public_id>/", chart.patient_chart, name="patient-chart"),
    path("patients/<uuid:public_id>/dashboard/", dashboards.patient_dashboard, name="patient-dashboard"),
    path(
        "patients/<uuid:public_id>/dashboard/data.csv",
        dashboards.patient_dashboard_csv,
        name="patient-dashboard-csv",
    ),
    path("cohort/", dashboards.cohort_dashboard, name="cohort-dashboard"),
    path("patients/<uuid:public_id>/summary/", summary.patient_summary_page, name="patient-summary"),
    path("patients/<uuid:public_id>/history/", history.patient_history, name="patient-history"),
    path("patients/<uuid:public_id>/visits/new/", visits.visit_new, name="visit-new"),
    path("patients/<uuid:public_id>/labs/", labs.patient_labs, name="patient-labs"),
    path("patients/<uuid:public_id>/labs/new/", labs.lab_new, name="lab-new"),
    path("patients/<uuid:public_id>/treatments/new/", treatments.course_new, name="course-new"),
    path("visits/<uuid:public_id>/edit/", visits.visit_edit, name="visit-edit"),
    path("labs/<uuid:public_id>/", labs.lab_detail, name="lab-detail"),
    path("labs/<uuid:public_id>/edit/", labs.lab_edit, name="lab-edit"),
    path("labs/<uuid:public_id>/delete/", labs.lab_delete, name="lab-delete"),
    path("treatments/<uuid:public_id>/doses/new/", treatments.dose_new, name="dose-new"),
    path("treatments/<uuid:public_id>/stop/", treatments.course_stop, name="course-stop"),
    path("treatments/<uuid:public_id>/edit/", corrections.course_edit, name="course-edit"),
    path("treatments/<uuid:public_id>/delete/", corrections.course_delete, name="course-delete"),
    path("doses/<uuid:public_id>/edit/", corrections.dose_edit, name="dose-edit"),
    path("doses/<uuid:public_id>/delete/", corrections.dose_delete, name="dose-delete"),
]
