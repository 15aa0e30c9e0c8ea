from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ops import health
from registry import token_views, views
from registry.exports import views as export_views

# a database outage met outside a view is a 503 too (ops/responses.py)
handler500 = "ops.responses.server_error"
handler400 = "ops.responses.bad_request"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("registry.api.urls")),
    path("profile/tokens/", token_views.token_list, name="api-tokens"),
    path("profile/tokens/<int:token_id>/revoke/", token_views.token_revoke_view, name="api-token-revoke"),
    path("account/", include("registry.twofactor_views")),
    path("", include("registry.access_log_views")),
    path("profile/", views.profile, name="profile"),
    path("profile/units/", views.unit_switch, name="unit-switch"),
    path("patients/new/", views.patient_register, name="patient-register"),
    path("patients/<uuid:public_id>/diagnoses/new/", views.diagnosis_new, name="diagnosis-new"),
    path("patients/<uuid:public_id>/genetics/new/", views.genetic_new, name="genetic-new"),
    path("patients/<uuid:public_id>/phenotypes/new/", views.phenotype_new, name="phenotype-new"),
    path("patients/<uuid:public_id>/consent/", views.consent_page, name="patient-consent"),
    path("exports/", export_views.export_page, name="exports"),
    path("exports/<uuid:export_id>/", export_views.export_detail, name="export-detail"),
    path("", include("clinical.urls")),
]
