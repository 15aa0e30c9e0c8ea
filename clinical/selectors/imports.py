"""Reads for the lab import pages: who each row's patient is (for users who may see
identity) and the alerts an import raised; where an imported result came from, and the
digest of an import's stored rows (its audit event's ``rows_sha256``). Scoped through
``registry.access``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from clinical.history import IMPORT_LABEL
from clinical.import_digest import DIGEST_FIELDS, digest_of_lines, ids_of, in_ranges, row_text
from clinical.models import Alert, LabImport, LabResult, Source
from registry import access
from registry.models import AuditEvent


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


@dataclass(frozen=True)
class Provenance:
    """How an imported result came in: "lab import #N (file) by U on T"."""

    number: int
    filename: str
    by: str
    at: dt.datetime


def import_event(lab_import: LabImport) -> AuditEvent | None:
    """The audit event of a confirmed import (one per import)."""
    return (
        AuditEvent.objects.filter(model=IMPORT_LABEL, object_id=str(lab_import.public_id), action="create")
        .select_related("user")
        .first()
    )


def lab_provenance(*, lab: LabResult) -> Provenance | None:
    """The import a result (already fetched through access) came from, as its audit event
    records it: the import stamped its results with its own time, and the event's id
    ranges must name this result. None for a result entered one at a time."""
    if lab.source != Source.IMPORT:
        return None
    for candidate in LabImport.objects.filter(status=LabImport.Status.IMPORTED, imported_at=lab.created_at):
        event = import_event(candidate)
        pair = (event.changes or {}).get("result_ids") if event is not None else None
        if event is not None and isinstance(pair, list) and in_ranges(pair[1] or [], lab.pk):
            who = event.user.get_full_name() or event.user.username if event.user is not None else "system"
            return Provenance(candidate.pk, candidate.filename, who, event.at)
    return None


def import_rows_digest(*, result_ids: list[list[int]], chunk: int = 5000) -> tuple[int, str]:
    """(rows found, SHA-256 of their canonical lines) for the ids an import event names,
    recomputed over the rows as stored now: equal to the event's ``rows_sha256`` while
    the results are as imported."""
    ids = ids_of(result_ids)
    found = 0
    lines = []
    for start in range(0, len(ids), chunk):
        rows = LabResult.objects.filter(pk__in=ids[start : start + chunk]).order_by("pk").values_list(*DIGEST_FIELDS)
        for row in rows:
            found += 1
            lines.append(row_text(*row))
    return found, digest_of_lines(lines)
