"""Reads for the lab import pages: who each row's patient is (for users who may see
identity) and the alerts an import raised. Scoped through ``registry.access``."""

from __future__ import annotations

from clinical.models import Alert, LabImport, Source
from registry import access


def identity_hints(*, user, patient_ids: set[int]) -> dict[int, str]:
    """Initials and birth year ("L. M. 1990") of the rows' patients, so a clinician can
    check a code against the person; empty for users who may not see identity."""
    if not patient_ids or not access.can_see_identity(user):
        return {}
    rows = (
        access.patients_for_user(user, write=True)
        .filter(pk__in=sorted(patient_ids), identity__isnull=False)
        .values_list("pk", "identity__given_name", "identity__family_name", "identity__birth_date")
    )
    out = {}
    for pk, given, family, born in rows:
        initials = " ".join(f"{name.strip()[:1].upper()}." for name in (given, family) if name and name.strip())
        out[pk] = f"{initials} {born.year}".strip()
    return out


def import_alerts(*, user, lab_import: LabImport) -> list[Alert]:
    """The alerts on the results an import wrote (their created_at is the import's
    time), most severe first: what the import raised."""
    if lab_import.imported_at is None:
        return []
    return list(
        access.alerts_for_user(user)
        .filter(
            lab_result__source=Source.IMPORT,
            lab_result__created_at=lab_import.imported_at,
            lab_result__created_by=lab_import.user_id,
        )
        .select_related("patient", "lab_result")
        .order_by("severity_rank", "patient__registry_code", "-observed_on")
    )


def import_evaluation_pending(*, user, lab_import: LabImport) -> bool:
    """Whether a patient of the import still waits for the worker (its alerts may follow)."""
    if lab_import.imported_at is None:
        return False
    return (
        access.patients_for_user(user)
        .filter(
            needs_evaluation=True,
            lab_results__source=Source.IMPORT,
            lab_results__created_at=lab_import.imported_at,
        )
        .exists()
    )
