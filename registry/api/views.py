"""Registry-side API views: sites, patients (+ diagnoses, genetics, phenotypes) and the
read-only catalogue. Each view fetches through ``registry.access`` and writes through
``registry.services``."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from clinical import catalogue
from registry import access, selectors
from registry import services as registry_services
from registry.api import serializers
from registry.api.base import RegistryAPIView, expected_version, with_etag
from registry.audit import audit_record

PATIENT_ID = OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class SiteList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=serializers.SiteSerializer(many=True), tags=["sites"], summary="Sites you belong to")
    def get(self, request):
        sites = access.sites_for_user(request.user).order_by("code")
        return Response(serializers.SiteSerializer(sites, many=True, context={"request": request}).data)


class PatientList(RegistryAPIView):
    cursor_ordering = ("registry_code",)
    create_sends_etag = True

    @extend_schema(
        responses=serializers.PatientSerializer(many=True),
        parameters=[
            OpenApiParameter("site", str, description="Only patients of this site code"),
            OpenApiParameter("subtype", str, description="Only patients with this primary subtype code"),
        ],
        tags=["patients"],
        summary="Patients you may read",
    )
    def get(self, request):
        qs = selectors.patient_list(
            user=request.user,
            site=request.query_params.get("site", ""),
            subtype=request.query_params.get("subtype", ""),
        )
        return self.paginate(qs, serializers.PatientSerializer)

    @extend_schema(
        request=serializers.PatientCreateSerializer,
        responses={201: serializers.PatientSerializer},
        tags=["patients"],
        summary="Register",
    )
    def post(self, request):
        self.require_writer()
        data = self.validated(serializers.PatientCreateSerializer)
        site = access.site_for_user(request.user, data.pop("site"), write=True)
        research_consent = data.pop("research_consent", None)
        patient = registry_services.patient_register(
            site=site,
            by=request.user,
            research_consent=research_consent,
            **{k: v for k, v in data.items() if v is not None},
        )
        patient = selectors.patient_detail(user=request.user, patient=patient)
        body = serializers.PatientSerializer(patient, context={"request": request}).data
        return with_etag(Response(body, status=status.HTTP_201_CREATED), patient)


class PatientDetail(RegistryAPIView):
    sends_etag = True

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.PatientSerializer, tags=["patients"], summary="Read")
    def get(self, request, patient_id):
        patient = selectors.patient_detail(user=request.user, patient=self.patient())
        if access.can_see_identity(request.user, patient):  # the body carries identity
            audit_record(user=request.user, action="view", obj=patient, patient=patient, reason="api")
        return with_etag(Response(serializers.PatientSerializer(patient, context={"request": request}).data), patient)

    def _update(self, request, partial: bool):
        patient = self.patient(write=True)
        version = expected_version(request)
        data = self.validated(serializers.PatientUpdateSerializer, partial=partial)
        reason = data.pop("change_reason", "")
        registry_services.patient_update(
            patient=patient, by=request.user, reason=reason, expected_version=version, **data
        )
        patient = selectors.patient_detail(user=request.user, patient=patient)
        return with_etag(Response(serializers.PatientSerializer(patient, context={"request": request}).data), patient)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.PatientUpdateSerializer,
        responses=serializers.PatientSerializer,
        tags=["patients"],
        summary="Replace the editable fields (If-Match required)",
    )
    def put(self, request, patient_id):
        return self._update(request, partial=False)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.PatientUpdateSerializer,
        responses=serializers.PatientSerializer,
        tags=["patients"],
        summary="Change some fields (If-Match and change_reason required)",
    )
    def patch(self, request, patient_id):
        return self._update(request, partial=True)


class DiagnosisList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.DiagnosisSerializer(many=True), tags=["diagnoses"])
    def get(self, request, patient_id):
        return self.paginate(selectors.patient_diagnoses(patient=self.patient()), serializers.DiagnosisSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.DiagnosisCreateSerializer,
        responses={201: serializers.DiagnosisSerializer},
        tags=["diagnoses"],
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        data = self.validated(serializers.DiagnosisCreateSerializer)
        dx = registry_services.diagnosis_add(patient=patient, by=request.user, **data)
        return Response(
            serializers.DiagnosisSerializer(dx, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class GeneticFindingList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[PATIENT_ID], responses=serializers.GeneticFindingSerializer(many=True), tags=["genetics"]
    )
    def get(self, request, patient_id):
        return self.paginate(selectors.patient_genetics(patient=self.patient()), serializers.GeneticFindingSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.GeneticFindingCreateSerializer,
        responses={201: serializers.GeneticFindingSerializer},
        tags=["genetics"],
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        data = self.validated(serializers.GeneticFindingCreateSerializer)
        finding = registry_services.genetic_finding_add(patient=patient, by=request.user, **data)
        return Response(serializers.GeneticFindingSerializer(finding).data, status=status.HTTP_201_CREATED)


class PhenotypeList(RegistryAPIView):
    cursor_ordering = ("-observed_on", "-id")

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.PhenotypeSerializer(many=True), tags=["phenotypes"])
    def get(self, request, patient_id):
        return self.paginate(selectors.patient_phenotypes(patient=self.patient()), serializers.PhenotypeSerializer)


class AnalyteList(RegistryAPIView):
    pagination_class = None

    @extend_schema(
        responses=serializers.AnalyteSerializer(many=True), tags=["catalogue"], summary="Lab analytes and units"
    )
    def get(self, request):
        return Response(serializers.AnalyteSerializer(list(catalogue.ANALYTES.values()), many=True).data)


class DrugList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=serializers.DrugSerializer(many=True), tags=["catalogue"], summary="Drugs and dose units")
    def get(self, request):
        return Response(serializers.DrugSerializer(list(catalogue.DRUGS.values()), many=True).data)


class SubtypeList(RegistryAPIView):
    pagination_class = None

    @extend_schema(
        responses=serializers.SubtypeSerializer(many=True), tags=["catalogue"], summary="Lipodystrophy subtypes"
    )
    def get(self, request):
        return Response(serializers.SubtypeSerializer(list(catalogue.SUBTYPES.values()), many=True).data)


@extend_schema(exclude=True)
class NotFound(RegistryAPIView):
    """Unknown paths under /api/v1/ answer in JSON like every other API error."""

    def _404(self, request, *args, **kwargs):
        raise Http404("No such resource.")

    get = post = put = patch = delete = _404
