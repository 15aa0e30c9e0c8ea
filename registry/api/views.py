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
from registry import access
from registry import services as registry_services
from registry.api import serializers as s
from registry.api.base import RegistryAPIView, expected_version, with_etag

PATIENT_ID = OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class SiteList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=s.SiteSerializer(many=True), tags=["sites"], summary="Sites you belong to")
    def get(self, request):
        sites = access.sites_for_user(request.user).order_by("code")
        return Response(s.SiteSerializer(sites, many=True, context={"request": request}).data)


class PatientList(RegistryAPIView):
    cursor_ordering = ("registry_code",)

    @extend_schema(
        responses=s.PatientSerializer(many=True),
        parameters=[
            OpenApiParameter("site", str, description="Only patients of this site code"),
            OpenApiParameter("subtype", str, description="Only patients with this primary subtype code"),
        ],
        tags=["patients"],
        summary="Patients you may read",
    )
    def get(self, request):
        qs = access.patients_for_user(request.user).select_related("home_site")
        if access.can_see_identity(request.user):
            qs = qs.select_related("identity")
        if request.query_params.get("site"):
            qs = qs.filter(home_site__code=request.query_params["site"])
        if request.query_params.get("subtype"):
            qs = qs.filter(primary_subtype=request.query_params["subtype"])
        return self.paginate(qs, s.PatientSerializer)

    @extend_schema(
        request=s.PatientCreateSerializer, responses={201: s.PatientSerializer}, tags=["patients"], summary="Register"
    )
    def post(self, request):
        self.require_writer()
        ser = s.PatientCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        site = access.site_for_user(request.user, data.pop("site"), write=True)
        research_consent = data.pop("research_consent", None)
        patient = registry_services.patient_register(
            site=site,
            by=request.user,
            research_consent=research_consent,
            **{k: v for k, v in data.items() if v is not None},
        )
        patient = access.patients_for_user(request.user).select_related("home_site", "identity").get(pk=patient.pk)
        body = s.PatientSerializer(patient, context={"request": request}).data
        return with_etag(Response(body, status=status.HTTP_201_CREATED), patient)


class PatientDetail(RegistryAPIView):
    sends_etag = True

    def _get(self, request, patient_id):
        return access.patients_for_user(request.user).select_related("home_site", "identity").get(pk=patient_id)

    @extend_schema(parameters=[PATIENT_ID], responses=s.PatientSerializer, tags=["patients"], summary="Read")
    def get(self, request, patient_id):
        patient = self.patient()
        patient = self._get(request, patient.pk)
        return with_etag(Response(s.PatientSerializer(patient, context={"request": request}).data), patient)

    def _update(self, request, partial: bool):
        patient = self.patient(write=True)
        version = expected_version(request)
        ser = s.PatientUpdateSerializer(data=request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        reason = data.pop("change_reason", "")
        registry_services.patient_update(
            patient=patient, by=request.user, reason=reason, expected_version=version, **data
        )
        patient = self._get(request, patient.pk)
        return with_etag(Response(s.PatientSerializer(patient, context={"request": request}).data), patient)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=s.PatientUpdateSerializer,
        responses=s.PatientSerializer,
        tags=["patients"],
        summary="Replace the editable fields (If-Match required)",
    )
    def put(self, request, patient_id):
        return self._update(request, partial=False)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=s.PatientUpdateSerializer,
        responses=s.PatientSerializer,
        tags=["patients"],
        summary="Change some fields (If-Match and change_reason required)",
    )
    def patch(self, request, patient_id):
        return self._update(request, partial=True)


class DiagnosisList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(parameters=[PATIENT_ID], responses=s.DiagnosisSerializer(many=True), tags=["diagnoses"])
    def get(self, request, patient_id):
        return self.paginate(self.patient().diagnoses.all(), s.DiagnosisSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=s.DiagnosisCreateSerializer,
        responses={201: s.DiagnosisSerializer},
        tags=["diagnoses"],
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        ser = s.DiagnosisCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        dx = registry_services.diagnosis_add(patient=patient, by=request.user, **ser.validated_data)
        return Response(s.DiagnosisSerializer(dx).data, status=status.HTTP_201_CREATED)


class GeneticFindingList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(parameters=[PATIENT_ID], responses=s.GeneticFindingSerializer(many=True), tags=["genetics"])
    def get(self, request, patient_id):
        return self.paginate(self.patient().genetic_findings.all(), s.GeneticFindingSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=s.GeneticFindingCreateSerializer,
        responses={201: s.GeneticFindingSerializer},
        tags=["genetics"],
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        ser = s.GeneticFindingCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        finding = registry_services.genetic_finding_add(patient=patient, by=request.user, **ser.validated_data)
        return Response(s.GeneticFindingSerializer(finding).data, status=status.HTTP_201_CREATED)


class PhenotypeList(RegistryAPIView):
    cursor_ordering = ("-observed_on", "-id")

    @extend_schema(parameters=[PATIENT_ID], responses=s.PhenotypeSerializer(many=True), tags=["phenotypes"])
    def get(self, request, patient_id):
        return self.paginate(self.patient().phenotypes.select_related("visit"), s.PhenotypeSerializer)


class AnalyteList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=s.AnalyteSerializer(many=True), tags=["catalogue"], summary="Lab analytes and units")
    def get(self, request):
        return Response(s.AnalyteSerializer(list(catalogue.ANALYTES.values()), many=True).data)


class DrugList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=s.DrugSerializer(many=True), tags=["catalogue"], summary="Drugs and dose units")
    def get(self, request):
        return Response(s.DrugSerializer(list(catalogue.DRUGS.values()), many=True).data)


class SubtypeList(RegistryAPIView):
    pagination_class = None

    @extend_schema(responses=s.SubtypeSerializer(many=True), tags=["catalogue"], summary="Lipodystrophy subtypes")
    def get(self, request):
        return Response(s.SubtypeSerializer(list(catalogue.SUBTYPES.values()), many=True).data)


@extend_schema(exclude=True)
class NotFound(RegistryAPIView):
    """Unknown paths under /api/v1/ answer in JSON like every other API error."""

    def _404(self, request, *args, **kwargs):
        raise Http404("No such resource.")

    get = post = put = patch = delete = _404
