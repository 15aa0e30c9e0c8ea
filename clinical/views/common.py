"""What the clinical screens share: the way back to the chart, the conflict panel and the
versioned write every correction and deletion screen runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from registry import selectors as registry_selectors
from registry.writekit import ConflictError


def query_keep(request: HttpRequest, *drop: str) -> str:
    """The current query string without ``page`` (and ``drop``): pagination and sort
    links keep the user's filters."""
    keep = request.GET.copy()
    for name in ("page", *drop):
        keep.pop(name, None)
    return keep.urlencode()


def chart_url(patient) -> str:
    return reverse("patient-chart", args=[patient.public_id])


def back_to_chart(request: HttpRequest, patient, message: str) -> HttpResponse:
    """After a successful write: say what was saved and go back to the patient's chart."""
    messages.success(request, message)
    return redirect(chart_url(patient))


def conflict_panel(obj, exc: ConflictError, mine: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """What changed since the user loaded the record: the audit rows of the newer
    versions, and the saved values next to what the user typed."""
    newer = max(int(exc.current.get("version", 0)) - int(mine.get("version") or 0), 1)
    events = registry_selectors.record_updates(obj=obj, limit=newer)
    rows = []
    for name, label in labels.items():
        saved = exc.current.get(name)
        yours = mine.get(name)
        saved_text = "" if saved in (None, "") else str(saved)
        yours_text = "" if yours in (None, "") else str(yours)
        if isinstance(yours, Decimal) or (yours_text and saved_text):
            try:
                same = Decimal(saved_text) == Decimal(yours_text)
            except ArithmeticError:  # not numbers (dates, text): compare as typed
                same = saved_text == yours_text
        else:
            same = saved_text == yours_text
        rows.append({"label": label, "saved": saved_text, "yours": yours_text, "differs": not same})
    return {"message": str(exc), "events": events, "rows": rows}


@dataclass
class VersionedWrite:
    """What a correction or deletion screen renders after :func:`versioned_write`:
    ``done`` is the redirect after a successful write (return it), otherwise the form
    (with field errors), the conflict panel (or None) and the record as saved now."""

    form: Any
    record: Any
    conflict: dict[str, Any] | None = None
    done: HttpResponse | None = None


def versioned_write(
    request: HttpRequest,
    *,
    form,
    record,
    patient,
    labels: dict[str, str],
    save: Callable[[dict[str, Any]], Any],
    mine: Callable[[dict[str, Any]], dict[str, Any]],
    reload: Callable[[], Any],
    fresh_form: Callable[[Any], Any],
    done_message: str,
) -> VersionedWrite:
    """On a valid POST, ``save(cleaned_data)`` through a service. A version conflict shows
    the conflict panel (what changed since the user loaded ``record``, ``mine(cleaned)``
    next to it) and a form of the record as saved now (``reload``, ``fresh_form``); a
    rule the service refuses becomes field errors on ``form``; success goes back to the
    chart with ``done_message``."""
    from clinical import forms as clinical_forms

    if request.method != "POST" or not form.is_valid():
        return VersionedWrite(form=form, record=record)
    cleaned = form.cleaned_data
    try:
        save(cleaned)
    except ConflictError as exc:
        conflict = conflict_panel(record, exc, mine(cleaned), labels)
        record = reload()
        return VersionedWrite(form=fresh_form(record), record=record, conflict=conflict)
    except ValidationError as exc:
        clinical_forms.apply_errors(form, exc)
        return VersionedWrite(form=form, record=record)
    return VersionedWrite(form=form, record=record, done=back_to_chart(request, patient, done_message))
