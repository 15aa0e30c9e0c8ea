"""Reads for a patient's readable change history: the audit rows with filters, and the
records and users they name, in a fixed number of queries (patient already fetched
through ``registry.access``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from registry.models import AuditEvent, Patient

# Record types a clinician filters by: key -> (label, audit model labels).
RECORD_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "labs": ("Lab results", ("clinical.LabResult",)),
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
    """Audit rows of one patient, newest first: changes, or (``views``) chart views only."""
    qs: QuerySet[AuditEvent] = AuditEvent.objects.filter(patient=patient).select_related("user")
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
    ids = AuditEvent.objects.filter(patient=patient, user__isnull=False).values_list("user_id", flat=True).distinct()
    users = get_user_model().objects.filter(pk__in=ids).order_by("last_name", "username")
    return [(u.pk, u.get_full_name() or u.username) for u in users]


def history_records(*, patient: Patient, events: list[AuditEvent]) -> dict[tuple[str, str], Any]:
    """The records a page of events is about, keyed by (model label, object_id): one
    query per record type on the page, and only this patient's rows."""
    wanted: dict[str, set[str]] = {}
    for ev in events:
        wanted.setdefault(ev.model, set()).add(ev.object_id)
    out: dict[tuple[str, str], Any] = {}
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
