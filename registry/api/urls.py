"""``/api/``: the versioned API, its OpenAPI schema and the Swagger UI (served from the
sidecar's static files, no CDN; the split view keeps the page within our CSP)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

from registry.api import views
from registry.api.base import HasRegistryAccess
from registry.exports import api as export_api


class DocsView(SpectacularSwaggerSplitView):
    """The Swagger UI page; OPTIONS answers in JSON (the page's HTML renderer needs a
    template, and had none for the OPTIONS body: a 500)."""

    def get_renderers(self):
        if self.request is not None and self.request.method == "OPTIONS":
            return [JSONRenderer()]
        return super().get_renderers()


v1 = [
    path("sites/", views.SiteList.as_view(), name="api-sites"),
    path("patients/", views.PatientList.as_view(), name="api-patients"),
    path("patients/<uuid:patient_id>/", views.PatientDetail.as_view(), name="api-patient"),
    path("patients/<uuid:patient_id>/diagnoses/", views.DiagnosisList.as_view(), name="api-diagnoses"),
    path("patients/<uuid:patient_id>/genetics/", views.GeneticFindingList.as_view(), name="api-genetics"),
    path("patients/<uuid:patient_id>/phenotypes/", views.PhenotypeList.as_view(), name="api-phenotypes"),
    path("analytes/", views.AnalyteList.as_view(), name="api-analytes"),
    path("drugs/", views.DrugList.as_view(), name="api-drugs"),
    path("subtypes/", views.SubtypeList.as_view(), name="api-subtypes"),
    path("exports/", export_api.ExportList.as_view(), name="api-exports"),
    path("exports/<uuid:export_id>/", export_api.ExportDetail.as_view(), name="api-export"),
    path("exports/<uuid:export_id>/download/", export_api.ExportDownload.as_view(), name="api-export-download"),
    path("", include("clinical.api.urls")),
    # Anything else under /api/v1/ (including ids that are not UUIDs): a JSON 404.
    re_path(r"^", views.NotFound.as_view(), name="api-not-found"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path(
        "schema/",
        # Public: the schema describes the API and holds no patient data; clients are
        # generated from this URL without a token.
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="api-schema",
    ),
    path(
        "docs/",
        DocsView.as_view(url_name="api-schema", permission_classes=[HasRegistryAccess]),
        name="api-docs",
    ),
]
