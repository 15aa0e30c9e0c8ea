"""SECURITY.md items 2 and 4 for every route that takes an object id: a clinician of
another site gets 404 (or 405 for a method the route does not have) for every method,
and no row changes.

Real objects of site A fill each id parameter by its name, so a route added anywhere is
checked with a real object of the right kind; a parameter name this file does not know
fails the test instead of being skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.apps import apps

from clinical import services
from clinical.models import Alert, LabImport
from registry.exports.cohort import ExportOptions
from registry.exports.services import export_job_create
from registry.tokens import token_issue
from tests.factories import make_course, make_visit
from tests.test_routes import ROUTES

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
OBJECT_ROUTES = [r for r, _u, has_params in ROUTES if has_params and not r.startswith("admin/")]


@pytest.fixture
def site_a_objects(patient_a, clinician_a, django_capture_on_commit_callbacks):
    today = dt.date.today()
    with django_capture_on_commit_callbacks(execute=True):  # the evaluation raises the alert
        visit = make_visit(
            patient=patient_a,
            by=clinician_a,
            visit_date=today - dt.timedelta(days=10),
            weight_kg="60",
            labs=[services.LabEntry("triglycerides", "1200", "mg/dL")],
        )
    lab = visit.lab_results.get()
    course = make_course(patient=patient_a, start_date=today - dt.timedelta(days=5), by=clinician_a)
    alert = Alert.objects.get(patient=patient_a, rule="TG_SEVERE")
    lab_import = LabImport.objects.create(
        user=clinician_a,
        filename="labs.csv",
        content=b"registry_code,analyte,value,unit,collected_on\n",
        sha256="0" * 64,
    )
    token, _key = token_issue(user=clinician_a, name="site A interface")
    export = export_job_create(user=clinician_a, options=ExportOptions(format="csv"))
    return {
        "patient": patient_a.public_id,
        "visit": visit.public_id,
        "lab": lab.public_id,
        "course": course.public_id,
        "dose": course.doses.get().public_id,
        "alert": alert.public_id,
        "import": lab_import.public_id,
        "token": token.pk,
        "export": export.public_id,
    }


def _kind(route: str, param: str) -> str:
    """Which object a URL parameter names: by its own name, or for a bare ``public_id`` by
    the route segment before it."""
    named = {
        "patient_id": "patient",
        "visit_id": "visit",
        "lab_id": "lab",
        "course_id": "course",
        "dose_id": "dose",
        "alert_id": "alert",
        "import_id": "import",
        "token_id": "token",
        "export_id": "export",
    }
    if param in named:
        return named[param]
    if param == "public_id":
        segment = route.split("<", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        by_segment = {
            "patients": "patient",
            "visits": "visit",
            "labs": "lab",
            "treatments": "course",
            "doses": "dose",
            "alerts": "alert",
        }
        if segment in by_segment:
            return by_segment[segment]
    raise AssertionError(f"route {route}: no object of site A for the parameter {param!r}; extend _kind")


def _url(route: str, objects: dict) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(objects[_kind(route, m.group(1))]), route)


def _counts() -> dict[str, int]:
    labels = [
        "registry.Patient", "registry.PatientIdentity", "registry.Diagnosis", "registry.GeneticFinding",
        "registry.PhenotypeObservation", "registry.Consent", "registry.AuditEvent", "registry.ApiToken",
        "clinical.Visit", "clinical.Skinfold", "clinical.LabResult", "clinical.TreatmentCourse",
        "clinical.DoseChange", "clinical.Alert", "clinical.LabImport", "registry.ExportJob",
    ]  # fmt: skip
    return {label: apps.get_model(label).objects.count() for label in labels}


def _fingerprint() -> list:
    """Mutable state that a refused write must leave alone (counts miss in-place edits)."""
    return [
        list(apps.get_model("clinical.LabResult").objects.values_list("value", "unit", "version").order_by("pk")),
        list(apps.get_model("clinical.Visit").objects.values_list("weight_kg", "version").order_by("pk")),
        list(apps.get_model("clinical.TreatmentCourse").objects.values_list("end_date", "version").order_by("pk")),
        list(apps.get_model("clinical.Alert").objects.values_list("status", "acknowledge_note").order_by("pk")),
        list(apps.get_model("clinical.LabImport").objects.values_list("status").order_by("pk")),
        list(apps.get_model("registry.ApiToken").objects.values_list("revoked_at").order_by("pk")),
        list(apps.get_model("registry.Patient").objects.values_list("sex", "version").order_by("pk")),
    ]


def test_every_object_route_is_covered():
    assert len(OBJECT_ROUTES) >= 30, OBJECT_ROUTES


@pytest.mark.parametrize("route", OBJECT_ROUTES)
def test_another_sites_object_is_404_for_every_method_and_nothing_changes(client, site_a_objects, clinician_b, route):
    url = _url(route, site_a_objects)
    client.force_login(clinician_b)
    body = {
        "change_reason": "outsider edit",
        "reason": "outsider edit",
        "note": "outsider",
        "sex": "male",
        "value": "1",
        "unit": "mg/dL",
        "end_date": dt.date.today().isoformat(),
        "stop_reason": "other",
        "dose": "1",
        "dose_unit": "mg/day",
        "effective_date": dt.date.today().isoformat(),
    }
    before_counts, before_state = _counts(), _fingerprint()
    statuses = {}
    for method in METHODS:
        kwargs = {"HTTP_IF_MATCH": '"1"'}
        if method in {"put", "patch"} or route.startswith("api/"):
            kwargs.update(data=json.dumps(body), content_type="application/json")
        else:
            kwargs.update(data=body)
        if method == "get":
            kwargs = {}
        response = getattr(client, method)(url, **kwargs)
        statuses[method] = response.status_code
    assert set(statuses.values()) <= {404, 405}, f"{url}: {statuses}"
    assert 404 in statuses.values(), f"{url}: no method answered 404: {statuses}"
    assert _counts() == before_counts, url
    assert _fingerprint() == before_state, url
