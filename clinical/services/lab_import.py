"""Lab import writes: store an uploaded file for preview, import it all-or-nothing, or
discard it. Reading and checking the file is ``clinical.imports``."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinical.imports import ImportPlan, NewLab, lab_import_preview
from clinical.models import LabImport, LabResult, Source
from clinical.services.outbox import patients_mark_for_evaluation
from registry import access, audit_chain
from registry.audit import _plain, audit_record, audit_record_many
from registry.writekit import check_upload_size

LAB_COLUMNS = (
    "public_id",
    "patient_id",
    "analyte",
    "value",
    "unit",
    "canonical_value",
    "collected_on",
    "fasting",
    "source",
    "version",
    "created_at",
    "updated_at",
    "created_by_id",
)


def lab_import_upload(*, user, filename: str, content: bytes) -> tuple[LabImport, ImportPlan]:
    """Store the file for confirmation and return its preview (nothing is imported)."""
    check_upload_size(len(content))
    if not access.can_write(user):
        raise ValidationError({"file": ["Your role does not allow entering lab results."]})
    plan = lab_import_preview(user=user, content=content)
    record = LabImport.objects.create(
        user=user,
        filename=(filename or "upload.csv")[:255],
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
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
        current = LabImport.objects.select_for_update().get(pk=lab_import.pk)
        if current.status != LabImport.Status.PREVIEWED:
            raise ValidationError({"status": [f"This import is {current.get_status_display().lower()}."]})
        plan = lab_import_preview(user=by, content=bytes(current.content), skip_existing=skip_existing)
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
        created = _insert_labs(plan.labs, now=now)
        progress(70, "writing the audit trail")
        audit_record_many(
            user=by,
            action="create",
            model=LabResult._meta.label,
            rows=((pid, row.patient_id, _audit_changes(pid, row)) for pid, row in created),
            reason=f"lab import {current.filename}",
        )
        progress(90, "flagging patients for evaluation")
        patients_mark_for_evaluation(row.patient_id for _, row in created)
        current.status = LabImport.Status.IMPORTED
        current.imported_at = now  # = the rows' created_at: how the results page finds them
        current.imported_count = len(created)
        current.error_count = 0
        # The rows are in the registry now; the file itself (MRNs, values) is not kept.
        current.content = b""
        current.purged_at = current.imported_at
        current.report = []
        current.save(
            update_fields=["status", "imported_at", "imported_count", "error_count", "content", "purged_at", "report"]
        )
        audit_record(
            user=by,
            action="create",
            obj=current,
            changes={
                "filename": [None, current.filename],
                "sha256": [None, current.sha256],
                "rows": [None, len(created)],
                "skipped": [None, plan.skipped_count],
            },
            reason="lab import",
        )
    return current, plan


def _insert_labs(labs: list[NewLab], *, now) -> list[tuple[uuid.UUID, NewLab]]:
    """Insert the rows in the caller's transaction: COPY on PostgreSQL, else bulk_create."""
    created = [(uuid.uuid4(), row) for row in labs]
    if connection.vendor == "postgresql":
        table = LabResult._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {table} ({', '.join(LAB_COLUMNS)}) FROM STDIN"  # noqa: S608 (fixed names)
            ) as copy,
        ):
            for public_id, r in created:
                copy.write_row(
                    (public_id, r.patient_id, r.analyte, r.value, r.unit, r.canonical_value, r.collected_on,
                     r.fasting, Source.IMPORT, 1, now, now, r.created_by_id)
                )  # fmt: skip
    else:
        LabResult.objects.bulk_create(
            [LabResult(public_id=pid, source=Source.IMPORT, **r._asdict()) for pid, r in created], batch_size=2000
        )
        # auto_now_add stamps its own time; keep the import's, so its results can be found
        LabResult.objects.filter(public_id__in=[pid for pid, _ in created]).update(created_at=now)
    return created


def _audit_changes(public_id: uuid.UUID, r: NewLab) -> dict:
    return {
        "public_id": [None, str(public_id)],
        "patient_id": [None, r.patient_id],
        "analyte": [None, r.analyte],
        "value": [None, _plain(r.value)],
        "unit": [None, r.unit],
        "canonical_value": [None, _plain(r.canonical_value)],
        "collected_on": [None, r.collected_on.isoformat()],
        "fasting": [None, r.fasting],
        "source": [None, Source.IMPORT],
    }


def lab_import_discard(*, lab_import: LabImport) -> None:
    LabImport.objects.filter(pk=lab_import.pk, status=LabImport.Status.PREVIEWED).update(
        status=LabImport.Status.DISCARDED, content=b""
    )
