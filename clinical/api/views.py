"""Clinical API views: visits, labs, treatments (+ doses), trends (alerts: ``alert_views``;
lab import: ``imports``).

Each view fetches the patient through ``registry.access`` (404 when not the caller's),
checks write permission (403 for read-only roles) and calls one ``clinical.services``
function. Detail responses carry an ETag; PUT/PATCH need If-Match.
"""

from __future__ import annotations

import functools

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.fields import empty
from rest_framework.response import Response

from clinical import catalogue, selectors
from clinical import services as clinical_services
from clinical.api import serializers
from clinical.api.lab_rows import lab_rows
from clinical.api.trend_units import add_display
from clinical.models import Source
from registry.api.base import (
    RegistryAPIView,
    expected_version,
    with_etag,
)

PATIENT_ID = OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
UNITS = OpenApiParameter(
    "units", str, enum=list(catalogue.UNIT_SYSTEMS), description="Add display values in this unit system"
)


@functools.cache
def _all_optional(serializer_class) -> bool:
    return all(not f.required and f.default is empty for f in serializer_class().fields.values())


def _query(serializer_class, request) -> dict:
    if not request.query_params and _all_optional(serializer_class):
        return {}  # what the serializer makes of no parameters, without running it
    ser = serializer_class(data=request.query_params.dict())
    ser.is_valid(raise_exception=True)
    return ser.validated_data


# --------------------------------------------------------------------------------------
# Labs
# --------------------------------------------------------------------------------------


class LabList(RegistryAPIView):
    create_sends_etag = True

    def get_cursor_ordering(self, request):
        if request.query_params.get("ordering") == "collected_on":
            return ("collected_on", "id")
        return ("-collected_on", "-id")

    @extend_schema(
        parameters=[
            PATIENT_ID,
            UNITS,
            OpenApiParameter("analyte", str, enum=list(catalogue.ANALYTES)),
            OpenApiParameter("from_date", OpenApiTypes.DATE, description="Collected on or after"),
            OpenApiParameter("to_date", OpenApiTypes.DATE, description="Collected on or before"),
            OpenApiParameter(
                "ordering", str, enum=["collected_on", "-collected_on"], description="Default newest first"
            ),
        ],
        responses=serializers.LabResultSerializer(many=True),
        tags=["labs"],
        summary="Lab results of a patient",
    )
    def get(self, request, patient_id):
        q = _query(serializers.LabQuerySerializer, request)
        rows = selectors.patient_lab_rows(
            user=request.user,
            patient_id=patient_id,
            analyte=q.get("analyte", ""),
            date_from=q.get("from_date"),
            date_to=q.get("to_date"),
        )
        # The page is read with the patient scoped on the join; the patient alone only when
        # the page cannot tell: another site's patient stays a 404, before any page error.
        try:
            page = self.paginate_queryset(rows)
        except exceptions.ValidationError:
            self.patient()
            raise
        sex = page[0]["patient__sex"] if page else self.patient().sex
        return self.get_paginated_response(lab_rows(page, sex=sex, units=q.get("units")))

    @extend_schema(
        parameters=[PATIENT_ID, UNITS],
        request=serializers.LabCreateSerializer,
        responses={201: serializers.LabResultSerializer},
        tags=["labs"],
        summary="Record a lab result (validated like the form)",
    )
    def post(self, request, patient_id):
        q = _query(serializers.UnitsQuerySerializer, request)
        patient = self.patient(write=True)
        data = self.validated(serializers.LabCreateSerializer)
        lab = clinical_services.lab_result_record(patient=patient, by=request.user, source=Source.API, **data)
        lab = selectors.patient_lab(patient=patient, public_id=lab.public_id)
        body = serializers.LabResultSerializer(lab, context={"units": q.get("units")}).data
        return with_etag(Response(body, status=status.HTTP_201_CREATED), lab)


class LabDetail(RegistryAPIView):
    sends_etag = True

    def _lab(self, patient, lab_id):
        return selectors.patient_lab(patient=patient, public_id=lab_id)

    def _out(self, lab, units):
        return with_etag(Response(serializers.LabResultSerializer(lab, context={"units": units}).data), lab)

    @extend_schema(
        parameters=[PATIENT_ID, UNITS],
        responses=serializers.LabResultSerializer,
        tags=["labs"],
        summary="Read a lab result",
    )
    def get(self, request, patient_id, lab_id):
        q = _query(serializers.UnitsQuerySerializer, request)
        return self._out(self._lab(self.patient(), lab_id), q.get("units"))

    def _update(self, request, lab_id, partial):
        q = _query(serializers.UnitsQuerySerializer, request)
        patient = self.patient(write=True)
        lab = self._lab(patient, lab_id)
        version = expected_version(request)
        data = self.validated(serializers.LabUpdateSerializer, partial=partial)
        reason = data.pop("change_reason", "")
        clinical_services.lab_result_update(
            result=lab, by=request.user, reason=reason, expected_version=version, **data
        )
        return self._out(self._lab(patient, lab_id), q.get("units"))

    @extend_schema(
        parameters=[PATIENT_ID, UNITS],
        request=serializers.LabUpdateSerializer,
        responses=serializers.LabResultSerializer,
        tags=["labs"],
        summary="Replace a lab result (If-Match, change_reason)",
    )
    def put(self, request, patient_id, lab_id):
        return self._update(request, lab_id, partial=False)

    @extend_schema(
        parameters=[PATIENT_ID, UNITS],
        request=serializers.LabUpdateSerializer,
        responses=serializers.LabResultSerializer,
        tags=["labs"],
        summary="Correct a lab result (If-Match, change_reason)",
    )
    def patch(self, request, patient_id, lab_id):
        return self._update(request, lab_id, partial=True)

    @extend_schema(
        parameters=[
            PATIENT_ID,
            OpenApiParameter("change_reason", str, required=True, description="Why the result is deleted"),
        ],
        request=None,
        responses={204: None},
        tags=["labs"],
        summary="Delete a lab result entered in error (If-Match, change_reason)",
    )
    def delete(self, request, patient_id, lab_id):
        patient = self.patient(write=True)
        lab = self._lab(patient, lab_id)
        # An API DELETE needs If-Match like PATCH (428 without it or blank, 412 when stale).
        version = expected_version(request)
        clinical_services.lab_result_delete(
            result=lab, by=request.user, reason=request.query_params.get("change_reason", ""), expected_version=version
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------


class VisitList(RegistryAPIView):
    cursor_ordering = ("-visit_date", "-id")
    create_sends_etag = True

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.VisitSerializer(many=True), tags=["visits"])
    def get(self, request, patient_id):
        return self.paginate(selectors.patient_visits(patient=self.patient()), serializers.VisitSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.VisitCreateSerializer,
        responses={201: serializers.VisitSerializer},
        tags=["visits"],
        summary="Record a visit, optionally with its lab panel",
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        data = self.validated(serializers.VisitCreateSerializer)
        labs = [clinical_services.LabEntry(**entry) for entry in data.pop("labs", [])]
        visit = clinical_services.visit_record(patient=patient, by=request.user, labs=labs, source=Source.API, **data)
        visit = selectors.patient_visit(patient=patient, public_id=visit.public_id)
        return with_etag(
            Response(
                serializers.VisitSerializer(visit, context={"request": request}).data, status=status.HTTP_201_CREATED
            ),
            visit,
        )


class VisitDetail(RegistryAPIView):
    sends_etag = True

    def _visit(self, patient, visit_id):
        return selectors.patient_visit(patient=patient, public_id=visit_id)

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.VisitSerializer, tags=["visits"])
    def get(self, request, patient_id, visit_id):
        visit = self._visit(self.patient(), visit_id)
        return with_etag(Response(serializers.VisitSerializer(visit, context={"request": request}).data), visit)

    def _update(self, request, visit_id, partial):
        patient = self.patient(write=True)
        visit = self._visit(patient, visit_id)
        version = expected_version(request)
        data = self.validated(serializers.VisitUpdateSerializer, partial=partial)
        reason = data.pop("change_reason", "")
        clinical_services.visit_update(visit=visit, by=request.user, reason=reason, expected_version=version, **data)
        visit = self._visit(patient, visit_id)
        return with_etag(Response(serializers.VisitSerializer(visit, context={"request": request}).data), visit)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.VisitUpdateSerializer,
        responses=serializers.VisitSerializer,
        tags=["visits"],
    )
    def put(self, request, patient_id, visit_id):
        return self._update(request, visit_id, partial=False)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.VisitUpdateSerializer,
        responses=serializers.VisitSerializer,
        tags=["visits"],
    )
    def patch(self, request, patient_id, visit_id):
        return self._update(request, visit_id, partial=True)


# --------------------------------------------------------------------------------------
# Treatments
# --------------------------------------------------------------------------------------


class TreatmentList(RegistryAPIView):
    cursor_ordering = ("-start_date", "-id")
    create_sends_etag = True

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.TreatmentSerializer(many=True), tags=["treatments"])
    def get(self, request, patient_id):
        return self.paginate(selectors.patient_courses(patient=self.patient()), serializers.TreatmentSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.TreatmentCreateSerializer,
        responses={201: serializers.TreatmentSerializer},
        tags=["treatments"],
        summary="Start a treatment course with its first dose",
    )
    def post(self, request, patient_id):
        patient = self.patient(write=True)
        data = self.validated(serializers.TreatmentCreateSerializer)
        course = clinical_services.course_start(patient=patient, by=request.user, source=Source.API, **data)
        course = selectors.patient_course(patient=patient, public_id=course.public_id)
        first = course.doses.all()[0]
        warning = clinical_services.label_warning(
            patient=patient, drug=course.drug, dose=first.dose, dose_unit=first.dose_unit, on=first.effective_date
        )
        body = serializers.TreatmentSerializer(course, context={"request": request, "warning": warning}).data
        return with_etag(Response(body, status=status.HTTP_201_CREATED), course)


class TreatmentDetail(RegistryAPIView):
    sends_etag = True

    def _course(self, patient, course_id):
        return selectors.patient_course(patient=patient, public_id=course_id)

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.TreatmentSerializer, tags=["treatments"])
    def get(self, request, patient_id, course_id):
        course = self._course(self.patient(), course_id)
        return with_etag(Response(serializers.TreatmentSerializer(course, context={"request": request}).data), course)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.TreatmentUpdateSerializer,
        responses=serializers.TreatmentSerializer,
        tags=["treatments"],
        summary="Correct or stop a course: start, end, stop reason, taper, notes (If-Match, change_reason)",
    )
    def patch(self, request, patient_id, course_id):
        patient = self.patient(write=True)
        course = self._course(patient, course_id)
        version = expected_version(request)
        data = self.validated(serializers.TreatmentUpdateSerializer, partial=True)
        reason = data.pop("change_reason", "")
        # A body with only the stop fields stops an ongoing course (and, repeated on a
        # stopped one, is refused as "already ended"); anything else is a correction.
        stop_body = (
            data.get("end_date") is not None
            and data.get("stop_reason")
            and set(data) <= {"end_date", "stop_reason", "tapered"}
        )
        repeated = course.end_date == data.get("end_date") and course.stop_reason == data.get("stop_reason")
        stopping = stop_body and (course.end_date is None or repeated)
        if stopping:
            clinical_services.course_stop(
                course=course,
                by=request.user,
                end_date=data["end_date"],
                stop_reason=data["stop_reason"],
                tapered=data.get("tapered", False),
                expected_version=version,
                reason=reason,
            )
        else:
            clinical_services.course_update(
                course=course, by=request.user, reason=reason, expected_version=version, **data
            )
        course = self._course(patient, course_id)
        return with_etag(Response(serializers.TreatmentSerializer(course, context={"request": request}).data), course)

    @extend_schema(
        parameters=[
            PATIENT_ID,
            OpenApiParameter("change_reason", str, required=True, description="Why the course is deleted"),
        ],
        request=None,
        responses={204: None},
        tags=["treatments"],
        summary="Delete a course entered in error, with its doses (If-Match, change_reason)",
    )
    def delete(self, request, patient_id, course_id):
        patient = self.patient(write=True)
        course = self._course(patient, course_id)
        version = expected_version(request)
        clinical_services.course_delete(
            course=course,
            by=request.user,
            reason=request.query_params.get("change_reason", ""),
            expected_version=version,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DoseList(RegistryAPIView):
    cursor_ordering = ("effective_date", "id")
    create_sends_etag = True

    def _course(self, patient, course_id):
        return selectors.patient_course(patient=patient, public_id=course_id, doses=False)

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.DoseSerializer(many=True), tags=["treatments"])
    def get(self, request, patient_id, course_id):
        course = self._course(self.patient(), course_id)
        return self.paginate(selectors.course_doses(course=course), serializers.DoseSerializer)

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.DoseCreateSerializer,
        responses={201: serializers.DoseSerializer},
        tags=["treatments"],
        summary="Record a dose change",
    )
    def post(self, request, patient_id, course_id):
        patient = self.patient(write=True)
        course = self._course(patient, course_id)
        course.patient = patient
        data = self.validated(serializers.DoseCreateSerializer)
        change = clinical_services.dose_change_record(course=course, by=request.user, **data)
        warning = _dose_warning(patient, course, change)
        body = serializers.DoseSerializer(change, context={"request": request, "warning": warning}).data
        return with_etag(Response(body, status=status.HTTP_201_CREATED), change)


def _dose_warning(patient, course, change) -> str:
    return clinical_services.label_warning(
        patient=patient, drug=course.drug, dose=change.dose, dose_unit=change.dose_unit, on=change.effective_date
    )


class DoseDetail(RegistryAPIView):
    sends_etag = True

    def _dose(self, patient, course_id, dose_id):
        course = selectors.patient_course(patient=patient, public_id=course_id, doses=False)
        return selectors.course_dose(course=course, public_id=dose_id)

    def _out(self, dose):
        return with_etag(Response(serializers.DoseSerializer(dose, context={"request": self.request}).data), dose)

    @extend_schema(parameters=[PATIENT_ID], responses=serializers.DoseSerializer, tags=["treatments"])
    def get(self, request, patient_id, course_id, dose_id):
        return self._out(self._dose(self.patient(), course_id, dose_id))

    @extend_schema(
        parameters=[PATIENT_ID],
        request=serializers.DoseUpdateSerializer,
        responses=serializers.DoseSerializer,
        tags=["treatments"],
        summary="Correct a dose change: date, dose, unit (If-Match, change_reason)",
    )
    def patch(self, request, patient_id, course_id, dose_id):
        patient = self.patient(write=True)
        dose = self._dose(patient, course_id, dose_id)
        version = expected_version(request)
        data = self.validated(serializers.DoseUpdateSerializer, partial=True)
        reason = data.pop("change_reason", "")
        if "reason" in data:  # the dose change's own note
            data["note"] = data.pop("reason")
        clinical_services.dose_update(change=dose, by=request.user, reason=reason, expected_version=version, **data)
        dose = self._dose(patient, course_id, dose_id)
        body = serializers.DoseSerializer(
            dose, context={"request": request, "warning": _dose_warning(patient, dose.course, dose)}
        ).data
        return with_etag(Response(body), dose)

    @extend_schema(
        parameters=[
            PATIENT_ID,
            OpenApiParameter("change_reason", str, required=True, description="Why the dose change is deleted"),
        ],
        request=None,
        responses={204: None},
        tags=["treatments"],
        summary="Delete a dose change entered in error (If-Match, change_reason)",
    )
    def delete(self, request, patient_id, course_id, dose_id):
        patient = self.patient(write=True)
        dose = self._dose(patient, course_id, dose_id)
        version = expected_version(request)
        clinical_services.dose_delete(
            change=dose, by=request.user, reason=request.query_params.get("change_reason", ""), expected_version=version
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------


class TrendList(RegistryAPIView):
    pagination_class = None

    @extend_schema(
        parameters=[PATIENT_ID, UNITS], responses=serializers.TrendsSerializer, tags=["trends"], summary="Trends"
    )
    def get(self, request, patient_id):
        q = _query(serializers.UnitsQuerySerializer, request)
        trends = selectors.patient_trends(patient=self.patient())
        if q.get("units"):
            trends["analytes"] = [add_display(a, q["units"]) for a in trends["analytes"]]
        return Response(serializers.TrendsSerializer(trends).data)
