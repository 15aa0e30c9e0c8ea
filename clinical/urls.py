from django.urls import include, path

from clinical import alert_views, views

urlpatterns = [
    path("patients/", views.patient_list, name="patient-list"),
    path("alerts/", alert_views.alert_worklist, name="alert-worklist"),
    path("alerts/<uuid:public_id>/acknowledge/", alert_views.alert_acknowledge, name="alert-acknowledge"),
    path("imports/labs/", include("clinical.import_views")),
    path("patients/<uuid:public_id>/", views.patient_chart, name="patient-chart"),
    path("patients/<uuid:public_id>/history/", views.patient_history, name="patient-history"),
    path("patients/<uuid:public_id>/visits/new/", views.visit_new, name="visit-new"),
    path("patients/<uuid:public_id>/labs/", views.patient_labs, name="patient-labs"),
    path("patients/<uuid:public_id>/labs/new/", views.lab_new, name="lab-new"),
    path("patients/<uuid:public_id>/treatments/new/", views.course_new, name="course-new"),
    path("visits/<uuid:public_id>/edit/", views.visit_edit, name="visit-edit"),
    path("labs/<uuid:public_id>/edit/", views.lab_edit, name="lab-edit"),
    path("labs/<uuid:public_id>/delete/", views.lab_delete, name="lab-delete"),
    path("treatments/<uuid:public_id>/doses/new/", views.dose_new, name="dose-new"),
    path("treatments/<uuid:public_id>/stop/", views.course_stop, name="course-stop"),
]
