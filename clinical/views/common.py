"""What the clinical screens share: the way back to the chart and the conflict panel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
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
