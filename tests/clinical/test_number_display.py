"""One number, one text, on every surface (RULES.md section 5): a triglyceride of
500.5 mg/dL reads 501 on the chart, in the API's display value and in the alert message;
500 mg/dL viewed in SI reads 5.65 mmol/L in all three, threshold included."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_lab
from tests.registry.test_api import api_for

pytestmark = pytest.mark.django_db


def _record_tg(patient, by, value: str, capture) -> None:
    with capture(execute=True):  # the evaluation runs on commit, as in the app
        make_lab(patient=patient, value=value, unit="mg/dL", by=by)


def _surfaces(user, patient, system: str) -> tuple[str, str, str]:
    """(chart HTML, API display value, API alert message) as ``user`` sees them."""
    client = api_for(user)
    base = f"/api/v1/patients/{patient.public_id}"
    lab = client.get(f"{base}/labs/?units={system}").json()["results"][0]
    alert = next(
        a for a in client.get(f"{base}/alerts/?units={system}").json()["results"] if a["rule"] == "TG_VERY_HIGH"
    )
    from django.test import Client

    web = Client()
    web.force_login(user)
    chart = web.get(reverse("patient-chart", args=[patient.public_id])).content.decode()
    return chart, f"{lab['display_value']} {lab['display_unit']}", alert["message"]


def test_500_5_mg_dl_reads_501_everywhere(clinician_a, patient_a, django_capture_on_commit_callbacks):
    _record_tg(patient_a, clinician_a, "500.5", django_capture_on_commit_callbacks)
    chart, api_value, message = _surfaces(clinician_a, patient_a, "conventional")
    assert api_value == "501 mg/dL"
    assert "<strong>501</strong> mg/dL" in chart  # the latest value; "As reported" keeps 500.5
    assert "501 mg/dL" in message and "500 mg/dL" not in message.split("at or above")[0]


def test_500_mg_dl_in_si_reads_5_65_everywhere(clinician_a, patient_a, django_capture_on_commit_callbacks):
    clinician_a.unit_system = "si"
    clinician_a.save(update_fields=["unit_system"])
    _record_tg(patient_a, clinician_a, "500", django_capture_on_commit_callbacks)
    chart, api_value, message = _surfaces(clinician_a, patient_a, "si")
    assert api_value == "5.65 mmol/L"
    assert "<strong>5.65</strong> mmol/L" in chart and "5.64" not in chart
    assert "5.65 mmol/L" in message
    assert "5.64" not in message and "5.645" not in message  # the threshold too
