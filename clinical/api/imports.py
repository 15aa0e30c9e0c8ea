"""Lab CSV import under ``/api/v1/lab-imports/``: upload (the preview comes back),
read the preview again, confirm (every row or none). The parsing and the all-or-nothing
import live in ``clinical.imports``; an upload is visible to its own user only."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response

from clinical import imports
from clinical.api import serializers
from clinical.models import LabImport
from clinical.services import lab_import
from ops import lab_import_jobs
from ops.uploads import upload_too_large
from registry import access
from registry.api.base import ErrorSerializer, PayloadTooLarge, RegistryAPIView, content_length
from registry.writekit import UploadTooLarge, check_upload_size


class ImportMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None and content_length(request) > settings.LAB_IMPORT_MAX_BYTES + 64 * 1024:
            raise PayloadTooLarge(f"The file is larger than the limit of {settings.LAB_IMPORT_MAX_BYTES:,} bytes.")
        return super().parse(stream, media_type, parser_context)


class CSVBodyParser(parsers.BaseParser):
    """A raw ``text/csv`` body, for scripts that post the file itself."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.LAB_IMPORT_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The file is larger than the limit of {limit:,} bytes.")
        return {"__csv__": raw}


def _import_body_without_plan(record: LabImport, job) -> dict:
    """While the import runs in a worker: the record and the job, without re-reading the file."""
    return {
        "id": record.public_id,
        "filename": record.filename,
        "status": record.status,
        "encoding": record.encoding,
        "delimiter": "",
        "row_count": record.row_count,
        "error_count": record.error_count,
        "imported_count": record.imported_count,
        "warnings": [],
        "file_errors": [],
        "rows": [],
        "job": lab_import_jobs.job_state(job),
    }


def _import_body(record: LabImport, plan: imports.ImportPlan) -> dict:
    return {
        "id": record.public_id,
        "filename": record.filename,
        "status": record.status,
        "encoding": plan.encoding,
        "delimiter": plan.delimiter,
        "row_count": plan.row_count,
        "error_count": plan.error_count,
        "imported_count": record.imported_count,
        "warnings": plan.warnings,
        "file_errors": plan.file_errors,
        "unit_suspect_count": plan.unit_suspect_count,
        "rows": [
            {
                "line": r.line,
                "status": r.status,
                "patient": r.patient,
                "analyte": r.analyte,
                "value": r.value,
                "unit": r.unit,
                "collected_on": r.collected_on,
                "errors": r.errors,
                "unit_suspect": r.unit_suspect,
            }
            for r in plan.report_rows()
        ],
    }


class LabImportCreate(RegistryAPIView):
    parser_classes = [ImportMultiPartParser, CSVBodyParser]
    request_body_required = True  # a file, as multipart or as the body

    @extend_schema(
        request={
            "multipart/form-data": serializers.LabImportUploadSerializer,
            "text/csv": {"type": "string", "format": "binary", "minLength": 1},
        },
        responses={
            201: serializers.LabImportSerializer,
            413: OpenApiResponse(ErrorSerializer, "The file is too large."),
        },
        tags=["lab imports"],
        summary="Upload a lab CSV: returns the preview; nothing is imported until confirm",
    )
    def post(self, request):
        self.require_writer()
        if "__csv__" in request.data:
            content, filename = request.data["__csv__"], "upload.csv"
        else:
            upload = request.data.get("file")
            if upload_too_large(request):
                raise PayloadTooLarge(f"The file is larger than the limit of {settings.LAB_IMPORT_MAX_BYTES:,} bytes.")
            if upload is None or not hasattr(upload, "read"):
                raise exceptions.ValidationError({"file": ["Attach the CSV file as 'file'."]})
            try:
                check_upload_size(upload.size)
            except UploadTooLarge as exc:
                raise PayloadTooLarge(str(exc))
            content, filename = upload.read(), upload.name
        try:
            record, plan = lab_import.lab_import_upload(user=request.user, filename=filename, content=content)
        except UploadTooLarge as exc:
            raise PayloadTooLarge(str(exc))
        return Response(
            serializers.LabImportSerializer(_import_body(record, plan)).data, status=status.HTTP_201_CREATED
        )


IMPORT_ID = OpenApiParameter("import_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class LabImportDetail(RegistryAPIView):
    @extend_schema(parameters=[IMPORT_ID], responses=serializers.LabImportSerializer, tags=["lab imports"])
    def get(self, request, import_id):
        record = access.lab_import_for_user(request.user, import_id)
        job = lab_import_jobs.job_for(record)
        if job is not None:
            return Response(serializers.LabImportSerializer(_import_body_without_plan(record, job)).data)
        plan = imports.lab_import_plan(record, user=request.user)
        return Response(serializers.LabImportSerializer(_import_body(record, plan)).data)


class LabImportConfirm(RegistryAPIView):
    @extend_schema(
        parameters=[
            IMPORT_ID,
            OpenApiParameter(
                "confirm_unusual",
                bool,
                description="Confirm every row marked unit_suspect in the preview (one confirmation for all)",
            ),
        ],
        request=None,
        responses={
            200: OpenApiResponse(serializers.LabImportSerializer, "Imported (the job finished at once)"),
            202: OpenApiResponse(serializers.LabImportSerializer, "Queued: poll GET lab-imports/{id}/ for progress"),
        },
        tags=["lab imports"],
        summary="Import every row of a previewed file, or none (in the background)",
    )
    def post(self, request, import_id):
        self.require_writer()
        record = access.lab_import_for_user(request.user, import_id)
        confirm = request.query_params.get("confirm_unusual", "").lower() in ("1", "true", "yes")
        if isinstance(request.data, dict) and request.data.get("confirm_unusual") is True:
            confirm = True
        job = lab_import_jobs.start(lab_import=record, by=request.user, confirm_unusual=confirm)
        if job.status == job.Status.FAILED:
            raise exceptions.ValidationError({"file": [job.message]})
        record.refresh_from_db()
        body = _import_body_without_plan(record, job)
        code = status.HTTP_200_OK if job.status == job.Status.DONE else status.HTTP_202_ACCEPTED
        return Response(serializers.LabImportSerializer(body).data, status=code)
