from django.urls import path

from clinical import views

urlpatterns = [
    path("patients/", views.patient_list, name="patient-list"),
]
