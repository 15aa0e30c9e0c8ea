"""Reads for a patient's readable change history: the audit rows with filters, and the
records and users they name, in a fixed number of queries (patient already fetched
through ``registry.access``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from clinical.history import IMPORT_LABEL, ImportedResults
from clinical.import_digest import in_ranges
from clinical.models import LabImport, LabResult, Source
from registry.models import AuditEvent, AuditEventPatient, Patient
from registry.selectors import patient_audit_events

# Past this many id runs, an import's results are found within its first and last id.
_MAX_RANGES_IN_QUERY = 50

# Record types a clinician filters by: key -> (label, audit model labels).
RECORD_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "labs": ("Lab results", ("clinical.LabResult", IMPORT_LABEL)),
    "visits": ("Visits", ("clinical.Visit", "clinical.Skinfold")),
    "treatments": ("Treatments and doses", ("clinical.TreatmentCourse", "clinical.DoseChange")),
    "alerts": ("Alerts", ("clinical.Alert",)),
    "patient": ("Patient and identity", ("registry.Patient", "registry.PatientIdentity")),
    "diagnoses": ("Diagnoses and genetics", ("registry.Diagnosis", "registry.GeneticFinding")),
    "phenotypes": ("Phenotype findings", ("registry.PhenotypeObservation",)),
    "consent": ("Consent", ("registry.Consent",)),
}

# Audit model label -> how its object_id is stored (the public id where the model has one).
_KEY = {
    "registry.PatientIdentity": "pk",
    "registry.Consent": "pk",
    "clinical.Skinfold": "pk",
}
# Related rows a record's name needs (a dose names its course's drug).
_RELATED = {"clinical.DoseChange": ("course",), "clinical.Skinfold": ("visit",)}


def history_events(*, patient: Patient, views: bool, record_type: str = "", user_id: int | None = None):
    """Audit rows of one patient, newest first: changes, or (``views``) chart views only.
    A lab import is one event for all its results; it is among the patient's changes."""
    qs: QuerySet[AuditEvent] = patient_audit_events(patient=patient).select_related("user")
    changes = [AuditEvent.Action.CREATE, AuditEvent.Action.UPDATE, AuditEvent.Action.DELETE]
    # views, downloads and identity searches are accesses, not changes: their own tab
    qs = qs.exclude(action__in=changes) if views else qs.filter(action__in=changes)
    if record_type in RECORD_TYPES:
        qs = qs.filter(model__in=RECORD_TYPES[record_type][1])
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return qs.order_by("-at", "-id")


def history_authors(*, patient: Patient) -> list[tuple[int, str]]:
    """The users who appear in a patient's trail, as (id, name) for the user filter."""
    own = AuditEvent.objects.filter(patient=patient, user__isnull=False).values("user_id")
    imports = AuditEventPatient.objects.filter(patient=patient, event__user__isnull=False).values("event__user_id")
    users = get_user_model().objects.filter(Q(pk__in=own) | Q(pk__in=imports)).order_by("last_name", "username")
    return [(u.pk, u.get_full_name() or u.username) for u in users]


def history_records(*, patient: Patient, events: list[AuditEvent]) -> dict[tuple[str, str], Any]:
    """The records a page of events is about, keyed by (model label, object_id): one
    query per record type on the page, and only this patient's rows."""
    wanted: dict[str, set[str]] = {}
    for ev in events:
        wanted.setdefault(ev.model, set()).add(ev.object_id)
    out: dict[tuple[str, str], Any] = {}
    imports = [ev for ev in events if ev.model == IMPORT_LABEL and ev.action == AuditEvent.Action.CREATE]
    if imports:
        out.update(imported_results(patient=patient, events=imports))
    wanted.pop(IMPORT_LABEL, None)
    for label, ids in wanted.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        key = _KEY.get(label, "public_id")
        if label == "registry.Patient":
            qs = model.objects.filter(pk=patient.pk)
        elif label == "clinical.DoseChange":
            qs = model.objects.filter(course__patient=patient)
        elif label == "clinical.Skinfold":
            qs = model.objects.filter(visit__patient=patient)
        else:
            qs = model.objects.filter(patient=patient)
        if key == "pk":
            ids = {i for i in ids if i.isdigit()}
        qs = qs.filter(**{f"{key}__in": list(ids)}).select_related(*_RELATED.get(label, ()))
        for obj in qs:
            out[(label, str(getattr(obj, key)))] = obj
    return out


def _result_ranges(event: AuditEvent) -> list[list[int]]:
    pair = (event.changes or {}).get("result_ids")
    return [list(r) for r in pair[1]] if isinstance(pair, list) and len(pair) == 2 and pair[1] else []


def imported_results(*, patient: Patient, events: list[AuditEvent]) -> dict[tuple[str, str], ImportedResults]:
    """For import events on a page of the patient's trail: the import (its number) and
    the patient's results among the ids the event names, that still exist. Two queries."""
    ranges = {ev.object_id: _result_ranges(ev) for ev in events}
    numbers = dict(LabImport.objects.filter(public_id__in=list(ranges)).values_list("public_id", "pk"))
    within = Q()
    for runs in ranges.values():
        if len(runs) > _MAX_RANGES_IN_QUERY:
            runs = [[runs[0][0], runs[-1][1]]]
        for first, last in runs:
            within |= Q(id__range=(first, last))
    found = (
        list(
            LabResult.objects.filter(within, patient=patient, source=Source.IMPORT).order_by(
                "collected_on", "analyte", "id"
            )
        )
        if within
        else []
    )
    out = {}
    for ev in events:
        runs = ranges[ev.object_id]
        filename = (ev.changes or {}).get("filename", [None, ""])
        out[(IMPORT_LABEL, ev.object_id)] = ImportedResults(
            number=next((pk for key, pk in numbers.items() if str(key) == ev.object_id), None),
            filename=filename[1] if isinstance(filename, list) and len(filename) == 2 else "",
            results=[r for r in found if in_ranges(runs, r.pk)],
        )
    return out


def users_by_id(ids: set[int]) -> dict[int, str]:
    """Names of the users a page of changes refers to (acknowledged by, recorded by)."""
    if not ids:
        return {}
    return {u.pk: u.get_full_name() or u.username for u in get_user_model().objects.filter(pk__in=ids)}


def sites_by_id(ids: set[int]) -> dict[int, str]:
    """Codes of the sites a page of changes refers to (a visit's site, a home site)."""
    from registry.models import Site

    if not ids:
        return {}
    return dict(Site.objects.filter(pk__in=ids).values_list("pk", "code"))
