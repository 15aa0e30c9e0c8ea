from django.urls import include, path

from clinical import views

urlpatterns = [
    path("patients/", views.patient_list, name="patient-list"),
    path("imports/labs/", include("clinical.import_views")),
]
