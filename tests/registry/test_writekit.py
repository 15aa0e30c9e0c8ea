"""The write kit both apps' services share (pure checks, no database)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from registry import writekit

TODAY = dt.date(2025, 6, 1)


def date_errors(day, **kw):
    errors: writekit.Errors = {}
    writekit.check_date(errors, "on", day, today=TODAY, **kw)
    return errors


def test_dates_required_not_future_not_before_1900():
    assert date_errors(None, label="The visit date", required="The visit date is required.") == {
        "on": ["The visit date is required."]
    }
    assert date_errors(None) == {}
    assert date_errors(TODAY) == {}
    assert date_errors(dt.date(2025, 6, 2), label="The visit date") == {
        "on": ["The visit date 2025-06-02 is in the future."]
    }
    assert date_errors(dt.date(1899, 12, 31), label="The date of birth", quote_date=False) == {
        "on": ["The date of birth is before 1900."]
    }
    assert date_errors(dt.date(1900, 1, 1)) == {}
    assert date_errors(dt.date(1800, 1, 1), earliest=None) == {}
    assert date_errors(dt.date(2026, 1, 1)) == {"on": ["2026-01-01 is in the future."]}


def test_reason_for_change():
    assert writekit.reason_errors("  ") == {"change_reason": [writekit.REASON_REQUIRED]}
    assert writekit.reason_errors("typo") == {}
    assert writekit.require_reason("  typo ") == "typo"
    with pytest.raises(ValidationError) as exc:
        writekit.require_reason(None)
    assert exc.value.message_dict == {"change_reason": [writekit.REASON_REQUIRED]}


def test_stale_version_is_a_conflict_with_the_current_values():
    row = SimpleNamespace(version=3, value="5.6")
    writekit.check_version(row, None, ["value"])
    writekit.check_version(row, "3", ["value"])
    with pytest.raises(writekit.ConflictError) as exc:
        writekit.check_version(row, 2, ["value"], noun="patient")
    assert "This patient was changed by someone else (version 3, you edited version 2)" in str(exc.value)
    assert exc.value.current == {"value": "5.6", "version": 3}


def test_actor_is_none_for_system_writes():
    user = SimpleNamespace(is_authenticated=True)
    assert writekit.actor(user) is user
    assert writekit.actor(SimpleNamespace(is_authenticated=False)) is None
    assert writekit.actor(None) is None


def test_upload_size_and_note_length():
    writekit.check_upload_size(100, limit=100)
    with pytest.raises(writekit.UploadTooLarge, match="101 bytes; the limit is 100 bytes"):
        writekit.check_upload_size(101, limit=100)
    assert writekit.clean_note("  seen  ") == "seen"
    assert writekit.clean_note(None) == ""
    assert len(writekit.clean_note("x" * writekit.NOTE_MAX_CHARS)) == writekit.NOTE_MAX_CHARS
    with pytest.raises(ValidationError) as exc:
        writekit.clean_note("x" * (writekit.NOTE_MAX_CHARS + 1))
    assert exc.value.message_dict == {"note": [f"The note is too long (at most {writekit.NOTE_MAX_CHARS} characters)."]}
