"""Lab import writes: store an uploaded file for preview, import it all-or-nothing, or
discard it. Reading and checking the file is ``clinical.imports``."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinical import import_plans
from clinical.import_digest import DIGEST_FIELDS, digest_of_lines, id_ranges, ids_of, row_text
from clinical.imports import ImportPlan, NewLab, collector_paused, lab_import_preview, plan_of
from clinical.models import LabImport, LabResult, Source
from clinical.services.outbox import patients_mark_for_evaluation
from registry import access, audit_chain
from registry.audit import audit_record_for_patients
from registry.writekit import check_upload_size


def lab_import_upload(*, user, filename: str, content: bytes) -> tuple[LabImport, ImportPlan]:
    """Store the file for confirmation and return its preview (nothing is imported)."""
    check_upload_size(len(content))
    if not access.can_write(user):
        raise ValidationError({"file": ["Your role does not allow entering lab results."]})
    plan = lab_import_preview(user=user, content=content)
    sha256 = hashlib.sha256(content).hexdigest()
    record = LabImport.objects.create(
        user=user,
        filename=(filename or "upload.csv")[:255],
        content=content,
        sha256=sha256,
        plan=import_plans.dump(plan, sha256=sha256),
        encoding=plan.encoding,
        row_count=plan.row_count,
        error_count=plan.error_count,
    )
    return record, plan


def lab_import_confirm(
    *,
    lab_import: LabImport,
    by,
    skip_existing: bool = False,
    confirm_unusual: bool = False,
    progress: Callable[[int, str], None] | None = None,
) -> tuple[LabImport, ImportPlan]:
    """Import every row of a previewed file, or none: the file is validated again against
    the current database inside the transaction; any error refuses the whole file.
    ``skip_existing`` leaves out rows identical to stored results (reported as skipped).
    Rows marked unit-suspect need ``confirm_unusual`` (one confirmation for all of them).
    ``progress(percent, phase)`` is told as each phase ends (the background job shows it)."""
    progress = progress or (lambda percent, phase: None)
    with transaction.atomic():
        audit_chain.lock()  # chain before rows: see audit_chain.lock
        # the file is loaded only if its kept rows may not stand for it
        current = LabImport.objects.select_for_update().defer("content").get(pk=lab_import.pk)
        if current.status != LabImport.Status.PREVIEWED:
            raise ValidationError({"status": [f"This import is {current.get_status_display().lower()}."]})
        # the rows as checked at upload where they may stand for a fresh reading (the
        # patients, duplicates and skips are decided again here), else the file again
        plan = plan_of(current, user=by, skip_existing=skip_existing)
        if not plan.ok:
            LabImport.objects.filter(pk=current.pk).update(error_count=plan.error_count)
            raise ValidationError(
                {
                    "file": [
                        f"{plan.error_count} row(s) have errors; nothing was imported. Fix the file and upload it again."
                    ]
                }
            )
        if plan.unit_suspect_count and not confirm_unusual:
            raise ValidationError(
                {
                    "confirm_unusual": [
                        f"{plan.unit_suspect_count} row(s) have values that look typed against the wrong unit "
                        "(marked in the preview). Correct the file, or confirm that these values are as intended."
                    ]
                }
            )
        now = timezone.now()
        progress(40, "writing the lab results")
        ids, digest = _insert_labs(plan.labs, now=now)
        progress(80, "writing the audit trail")
        # One event for the whole import (not one per result): who imported which results
        # (their ids, exactly, as ranges), a digest of the rows as written and the file's
        # hash. Each patient's trail finds it through its patient index.
        audit_record_for_patients(
            user=by,
            action="create",
            obj=current,
            at=now,
            patient_ids=(row.patient_id for row in plan.labs),
            changes={
                "filename": [None, current.filename],
                "sha256": [None, current.sha256],
                "rows": [None, len(ids)],
                "skipped": [None, plan.skipped_count],
                "result_ids": [None, id_ranges(ids)],
                "rows_sha256": [None, digest],
            },
            reason=f"lab import {current.filename}",
        )
        progress(90, "flagging patients for evaluation")
        patients_mark_for_evaluation(row.patient_id for row in plan.labs)
        current.status = LabImport.Status.IMPORTED
        current.imported_at = now  # = the rows' created_at: how the results page finds them
        current.imported_count = len(ids)
        current.error_count = 0
        # The rows are in the registry now; the file itself (MRNs, values) is not kept.
        current.content = b""
        current.plan = b""
        current.purged_at = current.imported_at
        current.report = []
        current.save(
            update_fields=[
                "status", "imported_at", "imported_count", "error_count", "content", "plan", "purged_at", "report"
            ]
        )  # fmt: skip
    return current, plan


# Written by COPY after the columns of the digest (clinical.import_digest.DIGEST_FIELDS).
COPY_TAIL_COLUMNS = ("source", "version", "created_at", "updated_at")
_COPY_CHUNK = 10_000


def _insert_labs(labs: list[NewLab], *, now) -> tuple[list[int], str]:
    """Insert the rows in the caller's transaction; return their ids (in the order of
    ``labs``) and the digest of the rows as written. On PostgreSQL the ids are taken from
    the table's sequence in one statement and the rows streamed with COPY, as the same
    canonical lines the digest is computed over; elsewhere, bulk_create."""
    if not labs:
        return [], digest_of_lines([])
    with collector_paused():
        return _insert(labs, now=now)


def _insert(labs: list[NewLab], *, now) -> tuple[list[int], str]:
    if connection.vendor != "postgresql":
        return _insert_labs_orm(labs, now=now)
    table = LabResult._meta.db_table
    _check_copy_text(labs)
    with connection.cursor() as cursor:
        # Reserve the ids in one statement; read back only their runs (one, unless other
        # writers took ids from the sequence at the same time).
        cursor.execute(
            "SELECT min(v), max(v) FROM (SELECT v, v - row_number() OVER (ORDER BY v) AS run FROM "
            f"(SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS v FROM generate_series(1, %s)) AS ids) "
            "AS runs GROUP BY run ORDER BY 1",  # noqa: S608
            [len(labs)],
        )
        ids = ids_of(cursor.fetchall())
        hexes = uuid4_hexes(len(labs))
        digest = hashlib.sha256()
        tail = f"\t{Source.IMPORT}\t1\t{now.isoformat()}\t{now.isoformat()}\n"
        columns = ", ".join((*DIGEST_FIELDS, *COPY_TAIL_COLUMNS))
        # NULL '': the canonical line leaves an unknown fasting and a system author empty.
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (NULL '')") as copy:  # noqa: S608
            # chunk by chunk, so the database takes one chunk while the next is written
            for start in range(0, len(labs), _COPY_CHUNK):
                end = start + _COPY_CHUNK
                lines = [
                    row_text(i, hex_id, r.patient_id, r.analyte, r.value, r.unit, r.canonical_value, r.collected_on,
                             r.fasting, r.created_by_id)
                    for i, hex_id, r in zip(ids[start:end], hexes[start:end], labs[start:end], strict=True)
                ]  # fmt: skip
                digest.update(("\n".join(lines) + "\n").encode())  # = digest_of_lines over all of them
                copy.write(tail.join(lines) + tail)
    return ids, digest.hexdigest()


def _check_copy_text(labs: list[NewLab]) -> None:
    """Analyte codes and unit spellings come from the catalogue; COPY's text format would
    read a tab, newline or backslash in them as structure."""
    for text in {r.analyte for r in labs} | {r.unit for r in labs}:
        if not text or any(ch in text for ch in "\t\n\r\\"):
            raise ValueError(f"{text!r} cannot be written as COPY text")


def _insert_labs_orm(labs: list[NewLab], *, now) -> tuple[list[int], str]:
    hexes = uuid4_hexes(len(labs))
    objs = LabResult.objects.bulk_create(
        [
            LabResult(public_id=uuid.UUID(h), source=Source.IMPORT, **r._asdict())
            for h, r in zip(hexes, labs, strict=True)
        ],
        batch_size=2000,
    )
    ids = [obj.pk for obj in objs]
    # auto_now_add stamps its own time; keep the import's, so its results can be found
    LabResult.objects.filter(pk__in=ids).update(created_at=now, updated_at=now)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    lines = [
        row_text(ids[k], hexes[k], labs[k].patient_id, labs[k].analyte, labs[k].value, labs[k].unit,
                 labs[k].canonical_value, labs[k].collected_on, labs[k].fasting, labs[k].created_by_id)
        for k in order
    ]  # fmt: skip
    return ids, digest_of_lines(lines)


def uuid4_hexes(n: int) -> list[str]:
    """``n`` random version-4 UUIDs as 32 hex digits (what ``uuid.uuid4().hex`` gives,
    from one read of the system's random source instead of one per row)."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    text = raw.hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def lab_import_discard(*, lab_import: LabImport) -> None:
    LabImport.objects.filter(pk=lab_import.pk, status=LabImport.Status.PREVIEWED).update(
        status=LabImport.Status.DISCARDED, content=b"", plan=b""
    )
