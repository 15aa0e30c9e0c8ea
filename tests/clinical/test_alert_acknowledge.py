"""Acknowledging an alert: the note limit is refused in the service, never cut short."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from clinical import services
from clinical.evaluation import patient_evaluate
from clinical.models import Alert, AlertStatus
from registry.models import AuditEvent
from registry.writekit import NOTE_MAX_CHARS

pytestmark = pytest.mark.django_db


def test_over_long_note_is_refused_and_nothing_changes(patient_a, clinician_a):
    services.lab_result_record(
        patient=patient_a,
        analyte="glucose",
        value="50",
        unit="mg/dL",
        collected_on=dt.date(2025, 1, 10),
        by=clinician_a,
    )
    patient_evaluate(patient_id=patient_a.pk, today=dt.date(2025, 2, 1))
    alert = Alert.objects.get(patient=patient_a, rule="HYPOGLYCEMIA")
    audits = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.alert_acknowledge(alert=alert, by=clinician_a, note="x" * (NOTE_MAX_CHARS + 1))
    assert list(exc.value.message_dict) == ["note"]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and AuditEvent.objects.count() == audits
    services.alert_acknowledge(alert=alert, by=clinician_a, note="x" * NOTE_MAX_CHARS)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and len(alert.acknowledge_note) == NOTE_MAX_CHARS
