"""The lab list's plain rows (clinical/api/lab_rows.py) are LabResultSerializer's output,
byte for byte: first as a pure property over generated results (no database), then
through the API on stored results (the body of the list against the serializer's)."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from clinical import catalogue
from clinical.api.lab_rows import lab_rows
from clinical.api.serializers import LabResultSerializer
from clinical.models import LabResult, Visit
from clinical.selectors import LAB_ROW_FIELDS
from registry.models import Patient
from tests.factories import make_lab, make_visit
from tests.registry.test_api import api_for


def _row(lab: LabResult) -> dict:
    """What clinical.selectors.patient_lab_rows reads for ``lab``."""
    return {
        "public_id": lab.public_id,
        "analyte": lab.analyte,
        "value": lab.value,
        "unit": lab.unit,
        "canonical_value": lab.canonical_value,
        "collected_on": lab.collected_on,
        "fasting": lab.fasting,
        "reference_low": lab.reference_low,
        "reference_high": lab.reference_high,
        "source": lab.source,
        "version": lab.version,
        "created_at": lab.created_at,
        "updated_at": lab.updated_at,
        "visit__public_id": lab.visit.public_id if lab.visit_id else None,
        "patient__sex": lab.patient.sex,
    }


def _same_bytes(labs: list[LabResult], *, sex: str, units: str | None) -> None:
    assert all(set(_row(lab)) == set(LAB_ROW_FIELDS) for lab in labs)  # what the selector reads
    expected = JSONRenderer().render(LabResultSerializer(labs, many=True, context={"units": units}).data)
    actual = JSONRenderer().render(lab_rows([_row(lab) for lab in labs], sex=sex, units=units))
    assert actual == expected


def _decimal(places: int, low: str, high: str):
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False)


@st.composite
def lab_results(draw, sex: str) -> LabResult:
    analyte = draw(st.sampled_from(sorted(catalogue.ANALYTES)))
    info = catalogue.ANALYTES[analyte]
    unit = draw(st.sampled_from([u.unit for u in info.units]))
    value = draw(_decimal(6, "0", "5000"))
    ranged = draw(st.booleans())
    low = draw(st.none() | _decimal(6, "0", "50")) if ranged else None
    high = draw(st.none() | _decimal(6, "50", "500")) if ranged else None
    stamp = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)))
    # PostgreSQL's values are in UTC; other zones take the conversion path
    zone = draw(st.sampled_from([dt.UTC, dt.UTC, dt.timezone(dt.timedelta(hours=2)), zoneinfo.ZoneInfo("UTC")]))
    created = stamp.replace(tzinfo=zone)
    visit = Visit(id=draw(st.integers(1, 10**6)), public_id=uuid.uuid4()) if draw(st.booleans()) else None
    lab = LabResult(
        id=draw(st.integers(1, 10**9)),
        public_id=uuid.uuid4(),
        patient=Patient(id=1, sex=sex),
        visit=visit,
        analyte=analyte,
        value=value,
        unit=unit,
        canonical_value=info.unit(unit).to_canonical(value).quantize(Decimal("1e-10")),
        collected_on=stamp.date(),
        fasting=draw(st.sampled_from([None, True, False])),
        reference_low=low,
        reference_high=high,
        source=draw(st.sampled_from(["form", "api", "import"])),
        version=draw(st.integers(1, 50)),
        created_at=created,
        updated_at=created + dt.timedelta(microseconds=draw(st.integers(0, 10**9))),
    )
    return lab


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    sex=st.sampled_from(["female", "male", "unknown"]),
    units=st.sampled_from([None, "si", "conventional"]),
)
def test_rows_are_the_serializer_body(data, sex, units):
    labs = data.draw(st.lists(lab_results(sex), min_size=0, max_size=6))
    _same_bytes(labs, sex=sex, units=units)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_rows_are_the_serializer_body_in_another_time_zone(data):
    labs = data.draw(st.lists(lab_results("female"), min_size=1, max_size=4))
    with timezone.override("America/Sao_Paulo"):
        _same_bytes(labs, sex="female", units="conventional")


@pytest.fixture
def api_a(clinician_a):
    return api_for(clinician_a)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "?units=si", "?units=conventional&ordering=collected_on", "?analyte=alt"])
def test_lab_list_body_is_the_serializer_body(api_a, clinician_a, patient_a, query):
    visit = make_visit(patient_a, visit_date=dt.date(2024, 2, 1), by=clinician_a)
    cases = [
        ("triglycerides", "1500", "mg/dL", True, None, None),  # critical
        ("triglycerides", "1.7", "mmol/L", None, None, None),  # exactly at the exclusive limit
        ("alt", "55", "U/L", False, "7", "40"),  # the lab's own range
        ("leptin", "0.3", "ng/mL", True, None, None),
        ("hba1c", "48", "mmol/mol", None, None, None),
        ("glucose", "2.9", "mmol/L", True, None, None),
    ]
    for i, (analyte, value, unit, fasting, low, high) in enumerate(cases):
        lab = make_lab(
            patient=patient_a,
            analyte=analyte,
            value=Decimal(value),
            unit=unit,
            collected_on=dt.date(2024, 1, 1) + dt.timedelta(days=i * 7),
            by=clinician_a,
            fasting=fasting,
            reference_low=None if low is None else Decimal(low),
            reference_high=None if high is None else Decimal(high),
        )
        if i % 2:
            LabResult.objects.filter(pk=lab.pk).update(visit=visit)
    response = api_a.get(f"/api/v1/patients/{patient_a.public_id}/labs/{query}")
    assert response.status_code == 200
    body = response.json()
    order = ("collected_on", "id") if "ordering=collected_on" in query else ("-collected_on", "-id")
    labs = LabResult.objects.filter(patient=patient_a).select_related("patient", "visit").order_by(*order)
    if "analyte=alt" in query:
        labs = labs.filter(analyte="alt")
    units = {"": None, "?units=si": "si"}.get(query, "conventional" if "conventional" in query else None)
    expected = {
        "next": body["next"],
        "previous": body["previous"],
        "results": LabResultSerializer(list(labs), many=True, context={"units": units}).data,
    }
    assert response.content == JSONRenderer().render(expected)
    assert len(body["results"]) == len(labs) > 0
