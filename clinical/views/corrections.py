"""Corrections of treatment courses and dose changes, and their deletion when entered in
error: one screen each, reason required, the version the user loaded checked (the
conflict panel shows what changed meanwhile)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from clinical import catalogue, forms, services
from clinical.views.common import versioned_write
from registry import access

COURSE_LABELS = {
    "start_date": "Start date",
    "end_date": "End date",
    "stop_reason": "Stop reason",
    "tapered": "Tapered",
    "notes": "Notes",
}
DOSE_LABELS = {"effective_date": "Dose from", "dose": "Daily dose", "dose_unit": "Unit", "reason": "Note"}


def _course_initial(course) -> dict[str, Any]:
    return {
        "version": course.version,
        "start_date": course.start_date,
        "end_date": course.end_date,
        "stop_reason": course.stop_reason,
        "tapered": course.tapered,
        "notes": course.notes,
    }


def _course_fields(d: dict[str, Any]) -> dict[str, Any]:
    fields = {k: d.get(k) for k in COURSE_LABELS}
    fields["stop_reason"] = fields["stop_reason"] or ""
    fields["notes"] = fields["notes"] or ""
    fields["tapered"] = bool(fields["tapered"])
    return fields


@login_required
@require_http_methods(["GET", "POST"])
def course_edit(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    patient = course.patient
    drug = catalogue.DRUGS[course.drug]
    result = versioned_write(
        request,
        form=forms.CourseEditForm(request.POST or None, initial=_course_initial(course)),
        record=course,
        patient=patient,
        labels=COURSE_LABELS,
        save=lambda d: services.course_update(
            course=course,
            by=request.user,
            reason=d.get("change_reason", ""),
            expected_version=d["version"],
            **_course_fields(d),
        ),
        mine=lambda d: {**_course_fields(d), "version": d["version"]},
        reload=lambda: access.course_for_user(request.user, public_id, write=True),
        fresh_form=lambda saved: forms.CourseEditForm(initial=_course_initial(saved)),
        done_message=f"{drug.name} course corrected.",
    )
    if result.done:
        return result.done
    return render(
        request,
        "clinical/course_edit.html",
        {
            "patient": patient,
            "course": result.record,
            "drug": drug,
            "form": result.form,
            "conflict": result.conflict,
            "forms_with_errors": forms.error_list(result.form),
        },
    )


def record_delete(request: HttpRequest, *, record, patient, labels, delete, reload, done_message, page: dict):
    """A deletion screen: reason required, the loaded version checked (conflict panel)."""
    result = versioned_write(
        request,
        form=forms.RecordDeleteForm(request.POST or None, initial={"version": record.version}),
        record=record,
        patient=patient,
        labels=labels,
        save=lambda d: delete(reason=d.get("change_reason", ""), expected_version=d["version"]),
        mine=lambda d: {"version": d["version"]},
        reload=reload,
        fresh_form=lambda saved: forms.RecordDeleteForm(initial={"version": saved.version}),
        done_message=done_message,
    )
    if result.done:
        return result.done
    return render(
        request,
        "clinical/record_delete.html",
        {
            "patient": patient,
            **page,
            "form": result.form,
            "conflict": result.conflict,
            "forms_with_errors": forms.error_list(result.form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def course_delete(request: HttpRequest, public_id) -> HttpResponse:
    course = access.course_for_user(request.user, public_id, write=True)
    name = catalogue.DRUGS[course.drug].name
    return record_delete(
        request,
        record=course,
        patient=course.patient,
        labels=COURSE_LABELS,
        delete=lambda **kw: services.course_delete(course=course, by=request.user, **kw),
        reload=lambda: access.course_for_user(request.user, public_id, write=True),
        done_message="Treatment course deleted.",
        page={
            "title": f"Delete {name} course",
            "what": f"{name} from {course.start_date.isoformat()}"
            + (f" to {course.end_date.isoformat()}" if course.end_date else " (ongoing)")
            + ", with its dose history",
            "button": "Delete course",
        },
    )


def _dose_initial(dose) -> dict[str, Any]:
    return {
        "version": dose.version,
        "effective_date": dose.effective_date,
        "dose": dose.dose.normalize(),
        "dose_unit": dose.dose_unit,
        "reason": dose.reason,
    }


def _dose_fields(d: dict[str, Any]) -> dict[str, Any]:
    fields = {k: d.get(k) for k in DOSE_LABELS}
    fields["reason"] = fields["reason"] or ""
    return fields


def _dose_service_fields(d: dict[str, Any]) -> dict[str, Any]:
    """As the service takes them: the dose's own note is ``note`` there (its ``reason``
    is the reason for the correction)."""
    fields = _dose_fields(d)
    fields["note"] = fields.pop("reason")
    return fields


@login_required
@require_http_methods(["GET", "POST"])
def dose_edit(request: HttpRequest, public_id) -> HttpResponse:
    dose = access.dose_for_user(request.user, public_id, write=True)
    course, patient = dose.course, dose.course.patient
    result = versioned_write(
        request,
        form=forms.DoseEditForm(request.POST or None, initial=_dose_initial(dose)),
        record=dose,
        patient=patient,
        labels=DOSE_LABELS,
        save=lambda d: services.dose_update(
            change=dose,
            by=request.user,
            reason=d.get("change_reason", ""),
            expected_version=d["version"],
            **_dose_service_fields(d),
        ),
        mine=lambda d: {**_dose_fields(d), "version": d["version"]},
        reload=lambda: access.dose_for_user(request.user, public_id, write=True),
        fresh_form=lambda saved: forms.DoseEditForm(initial=_dose_initial(saved)),
        done_message="Dose change corrected.",
    )
    if result.done:
        return result.done
    return render(
        request,
        "clinical/dose_edit.html",
        {
            "patient": patient,
            "course": course,
            "drug": catalogue.DRUGS[course.drug],
            "form": result.form,
            "conflict": result.conflict,
            "forms_with_errors": forms.error_list(result.form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dose_delete(request: HttpRequest, public_id) -> HttpResponse:
    dose = access.dose_for_user(request.user, public_id, write=True)
    course = dose.course
    return record_delete(
        request,
        record=dose,
        patient=course.patient,
        labels=DOSE_LABELS,
        delete=lambda **kw: services.dose_delete(change=dose, by=request.user, **kw),
        reload=lambda: access.dose_for_user(request.user, public_id, write=True),
        done_message="Dose change deleted.",
        page={
            "title": "Delete dose change",
            "what": f"{catalogue.DRUGS[course.drug].name} {dose.dose.normalize()} {dose.dose_unit} "
            f"from {dose.effective_date.isoformat()}",
            "button": "Delete dose change",
        },
    )
