"""What is kept of an uploaded lab file: its content only until it is confirmed, or for
``settings.LAB_IMPORT_RETENTION_DAYS`` while unconfirmed. After that the row report keeps
line numbers and messages, with the file's values taken out of the messages."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinical.imports import ImportPlan, RowReport, lab_import_preview
from clinical.models import LabImport

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
REDACTED = "…"


def _redact(message: str, report: RowReport | None = None) -> str:
    text = _QUOTED.sub(REDACTED, message)
    if report is not None:
        for value in (report.patient, report.analyte, report.value, report.unit, report.collected_on, report.fasting):
            if value and len(value.strip()) > 0:
                text = text.replace(value, REDACTED)
    return text


def report_without_values(plan: ImportPlan) -> list[dict]:
    """Line numbers and messages of every row with an error (line 0: the whole file)."""
    out = [{"line": 0, "messages": [_redact(m) for m in plan.file_errors]}] if plan.file_errors else []
    out += [{"line": r.line, "messages": [_redact(m, r) for m in r.errors]} for r in plan.rows if r.errors]
    return out


def lab_import_purge(*, lab_import: LabImport, plan: ImportPlan | None, status: str | None = None) -> None:
    """Drop the file's content, keeping the value-free report."""
    fields = {
        "content": b"",
        "plan": b"",
        "purged_at": timezone.now(),
        "report": report_without_values(plan) if plan else [],
    }
    if status:
        fields["status"] = status
    LabImport.objects.filter(pk=lab_import.pk).update(**fields)


def lab_imports_purge_stale(*, now: dt.datetime | None = None) -> int:
    """Purge the content of files left unconfirmed for longer than the retention period."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.LAB_IMPORT_RETENTION_DAYS)
    stale = LabImport.objects.filter(purged_at__isnull=True, created_at__lt=cutoff).exclude(
        status=LabImport.Status.IMPORTED
    )
    count = 0
    for record in stale.select_related("user").iterator():
        with transaction.atomic():
            content = LabImport.objects.filter(pk=record.pk).values_list("content", flat=True).first()
            plan = lab_import_preview(user=record.user, content=bytes(content or b"")) if content else None
            status = LabImport.Status.DISCARDED if record.status == LabImport.Status.PREVIEWED else None
            lab_import_purge(lab_import=record, plan=plan, status=status)
        count += 1
    return count
