"""The alert API. ``GET /api/v1/patients/<id>/alerts/``: one patient's alerts;
``POST .../alerts/<id>/acknowledge/`` and ``.../reopen/``: the worklist's two actions,
through ``clinical.services`` (audited; 404 for another site's patient, 403 for a
read-only role, 400 with the field when the service refuses).

``GET /api/v1/alerts/``: alerts of every patient the caller may read, with the
worklist's filters, cursor-paginated. Scoped by ``registry.access`` (through
``clinical.selectors``): researchers see consenting patients only, and never an
identity field (the body names the pseudonymous registry code)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clinical import alerts, catalogue, selectors
from clinical import services as clinical_services
from clinical.api import serializers as s
from clinical.api.views import PATIENT_ID, UNITS, _query
from clinical.models import AlertStatus, Severity
from registry.api.base import RegistryAPIView
from registry.api.serializers import StrictSerializer


class AlertListQuerySerializer(serializers.Serializer):
    """Unknown filter values are refused (400): an integration should hear about a typo."""

    severity = serializers.ChoiceField(choices=Severity.choices, required=False, help_text="Only this severity")
    rule = serializers.ChoiceField(choices=alerts.RULE_CHOICES, required=False, help_text="Only this rule")
    site = serializers.CharField(max_length=16, required=False, help_text="Only patients of this site code")
    status = serializers.ChoiceField(
        choices=[*AlertStatus.values, "all"],
        required=False,
        help_text="Default: every status but withdrawn; 'withdrawn' or 'all' to see withdrawn alerts",
    )
    observed = serializers.ChoiceField(
        choices=[k for k in selectors.OBSERVED_WITHIN if k],
        required=False,
        help_text="Evidence observed within the last 30, 90 or 365 days (as in the worklist)",
    )
    observed_from = serializers.DateField(required=False, help_text="Evidence observed on or after")
    observed_to = serializers.DateField(required=False, help_text="Evidence observed on or before")
    units = serializers.ChoiceField(
        choices=list(catalogue.UNIT_SYSTEMS), required=False, help_text="Unit system of values in the messages"
    )


class RegistryAlertSerializer(s.AlertSerializer):
    patient = serializers.UUIDField(source="patient.public_id")
    registry_code = serializers.CharField(source="patient.registry_code")
    site = serializers.CharField(source="patient.home_site.code")


class AlertRegistryList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[AlertListQuerySerializer],
        responses=RegistryAlertSerializer(many=True),
        tags=["alerts"],
        summary="Alerts of all your patients (the worklist's filters)",
    )
    def get(self, request):
        query = AlertListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = dict(query.validated_data)
        units = q.pop("units", None) or request.user.unit_system
        qs = selectors.alert_list(user=request.user, filters=selectors.AlertListFilters(**q))
        return self.paginate(qs, RegistryAlertSerializer, units=units)


class AlertList(RegistryAPIView):
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[
            PATIENT_ID,
            UNITS,
            OpenApiParameter(
                "status",
                str,
                enum=["open", "acknowledged", "resolved", "withdrawn", "all"],
                description="Default: all but withdrawn",
            ),
        ],
        responses=s.AlertSerializer(many=True),
        tags=["alerts"],
    )
    def get(self, request, patient_id):
        q = _query(s.AlertQuerySerializer, request)
        qs = selectors.patient_alerts(patient=self.patient(), status=q.get("status", ""))
        return self.paginate(qs, s.AlertSerializer, units=q.get("units") or request.user.unit_system)


class AlertReopenSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the acknowledged alert is open again (audited)")


class _AlertAction(RegistryAPIView):
    """A person's action on one alert of one patient: the patient fetched for writing
    through ``registry.access``, the body checked by ``body``, the service called by
    ``act``, the alert answered as saved now."""

    body: type[serializers.Serializer]

    def act(self, alert, user, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, patient_id, alert_id):
        patient = self.patient(write=True)
        alert = selectors.patient_alert(patient=patient, public_id=alert_id)
        self.act(alert, request.user, self.validated(self.body))
        alert = selectors.patient_alert(patient=patient, public_id=alert_id)
        return Response(s.AlertSerializer(alert, context={"request": request, "units": request.user.unit_system}).data)


@extend_schema(
    methods=["POST"],
    parameters=[PATIENT_ID],
    request=s.AlertAcknowledgeSerializer,
    responses={200: s.AlertSerializer},
    tags=["alerts"],
    summary="Acknowledge an alert",
)
class AlertAcknowledge(_AlertAction):
    body = s.AlertAcknowledgeSerializer

    def act(self, alert, user, data: dict) -> None:
        clinical_services.alert_acknowledge(alert=alert, by=user, note=data.get("note", ""))


@extend_schema(
    methods=["POST"],
    parameters=[PATIENT_ID],
    request=AlertReopenSerializer,
    responses={200: s.AlertSerializer},
    tags=["alerts"],
    summary="Reopen an acknowledged alert",
)
class AlertReopen(_AlertAction):
    body = AlertReopenSerializer

    def act(self, alert, user, data: dict) -> None:
        clinical_services.alert_reopen(alert=alert, by=user, reason=data["reason"])
