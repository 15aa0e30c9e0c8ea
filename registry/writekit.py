"""What every write service checks, written once for both apps.

``registry.services`` and ``clinical.services`` share these so that a date, a reason for a
change, a stale version, the acting user, an upload's size and a note's length are
checked the same way (and with the same words) wherever a record is written. Nothing here
knows a clinical record: the kit sits below both apps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from registry.audit import actor, audit_record, diff, snapshot

# Dates before this are typing slips (a century or a day/year swap), not history.
EARLIEST_DATE = dt.date(1900, 1, 1)
# Free-text notes on a decision (acknowledging an alert, a visit note): long enough for a
# paragraph, short enough that a pasted document is refused rather than stored.
NOTE_MAX_CHARS = 2000
REASON_REQUIRED = "A reason for the change is required."

Errors = dict[str, list[str]]

__all__ = [
    "EARLIEST_DATE",
    "NOTE_MAX_CHARS",
    "REASON_REQUIRED",
    "ConflictError",
    "Errors",
    "UploadTooLarge",
    "actor",  # defined with the audit rows, which store it too
    "audit_created",
    "check_date",
    "check_upload_size",
    "check_version",
    "clean_note",
    "reason_errors",
    "require_reason",
    "save_correction",
]


class ConflictError(Exception):
    """Someone else saved the record since the user loaded it (optimistic concurrency)."""

    def __init__(self, message: str, *, current: dict[str, Any], changed: dict[str, list[Any]]):
        super().__init__(message)
        self.current = current
        self.changed = changed


class UploadTooLarge(Exception):
    """An uploaded file is above its limit (HTTP 413)."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"The file is {size:,} bytes; the limit is {limit:,} bytes. Split it into smaller files.")
        self.size, self.limit = size, limit


def reason_errors(reason: str | None) -> Errors:
    """``{"change_reason": [...]}`` when a correction comes without a reason, else ``{}``."""
    return {} if (reason or "").strip() else {"change_reason": [REASON_REQUIRED]}


def require_reason(reason: str | None) -> str:
    """The reason, stripped; ValidationError when it is blank."""
    errors = reason_errors(reason)
    if errors:
        raise ValidationError(errors)
    return (reason or "").strip()


def check_version(obj: Any, expected_version: int | None, editable: list[str], *, noun: str = "record") -> None:
    """Refuse a write based on a version other than the stored one (``None``: not checked).

    ``obj`` is the row locked with ``select_for_update``; the error carries its current
    values so the conflict page can show them next to the user's.
    """
    if expected_version is None or int(expected_version) == obj.version:
        return
    raise ConflictError(
        f"This {noun} was changed by someone else (version {obj.version}, you edited version "
        f"{expected_version}). Review the current values and apply your change again.",
        current=snapshot(obj, [*editable, "version"]),
        changed={},
    )


def audit_created(obj: Any, *, by: Any, patient: Any, reason: str = "") -> None:
    """The audit row of a new record: every field, from nothing to its value."""
    audit_record(user=by, action="create", obj=obj, patient=patient, changes=diff({}, snapshot(obj)), reason=reason)


def save_correction(obj: Any, *, by: Any, patient: Any, changes: dict[str, list[Any]], reason: str) -> None:
    """Save an edited record under a new version with its audit row (in the caller's
    transaction, on the row it locked and checked with :func:`check_version`)."""
    obj.version += 1
    obj.save()
    audit_record(user=by, action="update", obj=obj, patient=patient, changes=changes, reason=reason)


def check_date(
    errors: Errors,
    field: str,
    day: dt.date | None,
    *,
    label: str = "",
    required: str = "",
    quote_date: bool = True,
    earliest: dt.date | None = EARLIEST_DATE,
    today: dt.date | None = None,
) -> None:
    """Add the first problem with ``day`` to ``errors[field]``: missing (when ``required``
    gives the message), in the future, or before ``earliest``.

    Messages read "<label> <date> is in the future." (``quote_date=False`` leaves the date
    out: "The date of birth is in the future.").
    """
    if day is None:
        if required:
            errors.setdefault(field, []).append(required)
        return
    subject = " ".join(part for part in (label, day.isoformat() if quote_date else "") if part)
    if day > (today or timezone.localdate()):
        errors.setdefault(field, []).append(f"{subject} is in the future.")
    elif earliest is not None and day < earliest:
        errors.setdefault(field, []).append(f"{subject} is before {earliest.year}.")


def check_upload_size(size: int, limit: int | None = None) -> None:
    """Refuse a file above ``limit`` bytes (default: the lab import limit)."""
    limit = settings.LAB_IMPORT_MAX_BYTES if limit is None else limit
    if size > limit:
        raise UploadTooLarge(size, limit)


def clean_note(note: str | None, *, field: str = "note") -> str:
    """A note stripped; refused (never cut short) when over :data:`NOTE_MAX_CHARS`."""
    text = (note or "").strip()
    if len(text) > NOTE_MAX_CHARS:
        raise ValidationError({field: [f"The note is too long (at most {NOTE_MAX_CHARS} characters)."]})
    return text
