"""``/api/v1/exports/``: create a research export job, follow its progress, download it.

A job and its file are visible to their requester only; for anyone else they do not
exist (404)."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from registry.api.base import ErrorSerializer, RegistryAPIView
from registry.api.serializers import StrictSerializer
from registry.exports import selectors, services, smallcell
from registry.exports.cohort import ExportOptions
from registry.exports.models import ExportJob
from registry.exports.tables import DATE_MODES

EXPORT_ID = OpenApiParameter("export_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ExportCreateSerializer(StrictSerializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    project = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,62}$", required=False, default="default",
                                     help_text="Project name: selects the pseudonym key")  # fmt: skip
    sites = serializers.ListField(child=serializers.CharField(max_length=16), required=False, default=list,
                                  max_length=100, help_text="Site codes (default: all your sites)")  # fmt: skip
    subtypes = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, default=list, max_length=100,
        help_text="Subtype codes, e.g. FPLD2 (see /api/v1/subtypes/); default: every subtype",
    )  # fmt: skip
    vars()["from"] = serializers.DateField(required=False, allow_null=True, help_text="First record date")
    to = serializers.DateField(required=False, allow_null=True, help_text="Last record date")
    dates = serializers.ChoiceField(choices=DATE_MODES, required=False, default="shifted")
    k = serializers.IntegerField(min_value=2, max_value=100, required=False, default=smallcell.DEFAULT_K)


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    format = serializers.CharField()
    status = serializers.ChoiceField(choices=ExportJob.Status.choices)
    progress = serializers.IntegerField(help_text="Percent done")
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField()
    filters = serializers.DictField()
    counts = serializers.DictField(child=serializers.IntegerField())
    sha256 = serializers.CharField(allow_blank=True)
    size_bytes = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, job) -> str | None:
        if selectors.export_job_file(job) is None:
            return None
        return reverse("api-export-download", kwargs={"export_id": job.public_id})


class ExportList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(responses=ExportJobSerializer(many=True), tags=["exports"], summary="Your export jobs")
    def get(self, request):
        return self.paginate(selectors.export_jobs_for_user(request.user), ExportJobSerializer)

    @extend_schema(
        request=ExportCreateSerializer,
        responses={202: ExportJobSerializer},
        tags=["exports"],
        summary="Start a de-identified research export (built in the background)",
    )
    def post(self, request):
        ser = ExportCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        options = ExportOptions(
            format=d["format"], project=d["project"], sites=tuple(d["sites"]), subtypes=tuple(d["subtypes"]),
            date_from=d.get("from"), date_to=d.get("to"), dates=d["dates"], k=d["k"],
        )  # fmt: skip
        job = services.export_job_create(user=request.user, options=options)
        job.refresh_from_db()  # an in-process build may already have finished
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetail(RegistryAPIView):
    @extend_schema(
        parameters=[EXPORT_ID], responses=ExportJobSerializer, tags=["exports"], summary="Status and progress"
    )
    def get(self, request, export_id):
        return Response(ExportJobSerializer(selectors.export_job_for_user(request.user, export_id)).data)


class ExportDownload(RegistryAPIView):
    def perform_content_negotiation(self, request, force=False):
        # The file is a zip whatever the Accept header says; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[EXPORT_ID],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, "The export bundle (zip)."),
            409: OpenApiResponse(ErrorSerializer, "The export is not finished (or failed)."),
            410: OpenApiResponse(ErrorSerializer, "The export has expired; its file is deleted."),
        },
        tags=["exports"],
        summary="Download the finished export (requester only)",
    )
    def get(self, request, export_id):
        job = selectors.export_job_for_user(request.user, export_id)
        path = selectors.export_job_file(job)
        if path is None:
            if job.status in (ExportJob.Status.DONE, ExportJob.Status.EXPIRED):
                return Response({"detail": "The export has expired."}, status=status.HTTP_410_GONE)
            return Response({"detail": f"The export is {job.status}, not ready."}, status=status.HTTP_409_CONFLICT)
        response = FileResponse(
            open(path, "rb"),  # noqa: SIM115  (FileResponse closes it)
            as_attachment=True,
            filename=f"research-export-{job.format}-{job.public_id}.zip",
            content_type="application/zip",
        )
        response["X-Content-SHA256"] = job.sha256
        return response
