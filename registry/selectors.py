"""Reads of the registry record: patients for the API list and detail, a patient's
diagnoses, genetics, phenotypes and consent history, and the audit trail (the patient's
history page, the "what changed" panel of a conflict). Scoped through
``registry.access``: each function takes a user, or a patient already fetched through it."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from registry import access
from registry.models import (
    ApiToken,
    AuditEvent,
    AuditEventPatient,
    Consent,
    Diagnosis,
    GeneticFinding,
    Patient,
    PhenotypeObservation,
)


def patient_list(*, user, site: str = "", subtype: str = "") -> QuerySet[Patient]:
    """The user's patients for the API, optionally of one home site code or subtype;
    identity is joined only where the user may see it."""
    qs = access.patients_for_user(user).select_related("home_site")
    if access.can_see_identity(user):
        qs = qs.select_related("identity")
    if site:
        qs = access.at_site_code(qs, site)
    if subtype:
        qs = qs.filter(primary_subtype=subtype)
    return qs.order_by("registry_code")


def patient_detail(*, user, patient: Patient) -> Patient:
    """The patient again with its site and identity joined (after a write, or for the
    API's detail body)."""
    return access.patients_for_user(user).select_related("home_site", "identity").get(pk=patient.pk)


def patient_diagnoses(*, patient: Patient) -> QuerySet[Diagnosis]:
    return patient.diagnoses.order_by("-created_at", "-id")


def patient_genetics(*, patient: Patient) -> QuerySet[GeneticFinding]:
    return patient.genetic_findings.order_by("-created_at", "-id")


def patient_phenotypes(*, patient: Patient) -> QuerySet[PhenotypeObservation]:
    return patient.phenotypes.select_related("visit").order_by("-observed_on", "-id")


def consent_history(*, patient: Patient) -> list[Consent]:
    """Every consent of the patient, newest first (the first one is in force unless
    withdrawn)."""
    return list(patient.consents.select_related("recorded_by").order_by("-consented_on", "-id"))


def patient_audit_events(*, patient: Patient) -> QuerySet[AuditEvent]:
    """Every audit row about ``patient``: its own, and the events about several patients
    at once that name it (a lab import: one event for all its results), found through
    their patient index (one query for that index)."""
    shared = list(AuditEventPatient.objects.filter(patient=patient).values_list("event_id", flat=True))
    about = Q(patient=patient) | Q(pk__in=shared) if shared else Q(patient=patient)
    return AuditEvent.objects.filter(about)


def patient_history(*, patient: Patient) -> QuerySet[AuditEvent]:
    return patient_audit_events(patient=patient).select_related("user").order_by("-at", "-id")


def record_updates(*, obj, limit: int) -> list[AuditEvent]:
    """The ``limit`` newest update events of one record (the versions a stale form missed)."""
    return list(
        AuditEvent.objects.filter(model=obj._meta.label, object_id=str(obj.public_id), action=AuditEvent.Action.UPDATE)
        .select_related("user")
        .order_by("-at", "-id")[:limit]
    )


def api_tokens_of(*, user) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first (never anyone else's, whatever the role)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def possible_duplicates(*, user, family_name: str, given_name: str, sex: str, birth_date) -> list[tuple[Patient, str]]:
    """Patients the user may see who may be the person being registered, with why
    (``registry.duplicates``); one query over the identities born within a year."""
    from registry import duplicates

    new = duplicates.Person(family_name, given_name, sex, birth_date)
    candidates = access.identities_for_user(user).filter(
        birth_date__range=(birth_date - duplicates.YEAR_APART, birth_date + duplicates.YEAR_APART)
    )
    out = []
    for identity in candidates.order_by("patient__registry_code"):
        known = duplicates.Person(identity.family_name, identity.given_name, identity.patient.sex, identity.birth_date)
        why = duplicates.why_duplicate(new, known)
        if why:
            out.append((identity.patient, why))
    return out
